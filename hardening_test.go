//go:build unix

package cmdsrv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestAnotherUsersLinksAreNotFollowed: a second user plants symbolic
// links (and a file of its own) where a server running as root writes its
// pid file and its log; nothing outside is written or created, the pid
// file replaces the link, and the log is refused with the reason.
func TestAnotherUsersLinksAreNotFollowed(t *testing.T) {
	uid, gid := testutil.OtherUser(t)
	dir := testutil.ShortDir(t)
	require.NoError(t, os.Chmod(dir, 0o755))
	outside := filepath.Join(dir, "outside")
	require.NoError(t, os.Mkdir(outside, 0o755))
	victim, absent := filepath.Join(outside, "victim"), filepath.Join(outside, "absent")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	theirs := filepath.Join(dir, "theirs") // the other user's directory
	require.NoError(t, os.Mkdir(theirs, 0o755))
	require.NoError(t, os.Chown(theirs, uid, gid))
	plant := func(target, link string) {
		t.Helper()
		_ = os.Remove(link)
		testutil.AsUser(t, uid, gid, "ln", "-s", target, link)
	}
	nothingOutside := func() {
		t.Helper()
		b, err := os.ReadFile(victim)
		require.NoError(t, err)
		require.Equal(t, "precious\n", string(b), "the link's target is untouched")
		require.NoFileExists(t, absent, "a dangling link's target is not created")
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		cmd := helperCmd(t, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}

	t.Run("pid file link to a file", func(t *testing.T) {
		pidPath, sock := filepath.Join(theirs, "pid"), filepath.Join(dir, "s1")
		plant(victim, pidPath)
		out, err := run("--address", sock, "--daemon", "--pid-file", pidPath)
		require.NoError(t, err, "stderr: %s", out)
		pid := testutil.ReadPIDFile(t, pidPath)
		t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
		require.Equal(t, pid, hello(t, sock))
		fi, err := os.Lstat(pidPath)
		require.NoError(t, err)
		require.True(t, fi.Mode().IsRegular(), "the link is replaced by the pid file")
		require.Equal(t, uint32(0), fi.Sys().(*syscall.Stat_t).Uid)
		nothingOutside()
		testutil.Terminate(t, pid, 20*time.Second)
	})

	t.Run("dangling pid file link and a failed start", func(t *testing.T) {
		pidPath := filepath.Join(theirs, "pid")
		plant(absent, pidPath)
		for _, extra := range [][]string{nil, {"--daemon"}} {
			out, err := run(append([]string{"--address", filepath.Join(dir, "no", "such", "s"), "--pid-file", pidPath}, extra...)...)
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stderr: %s", out)
			nothingOutside()
			fi, err := os.Lstat(pidPath)
			require.NoError(t, err)
			require.Equal(t, os.ModeSymlink, fi.Mode().Type(), "nothing written at the path")
		}
	})

	t.Run("pid file append through a link", func(t *testing.T) {
		pidPath := filepath.Join(theirs, "pid")
		plant(victim, pidPath)
		out, err := run("--address", filepath.Join(dir, "s2"), "--daemon", "--pid-file", pidPath, "--config", "cmdserver.pid-file-append=true")
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Contains(t, out, "abort: opening pid file: refusing "+pidPath+": it is a symbolic link")
		nothingOutside()
	})

	for _, tc := range []struct {
		name, target, want string
	}{
		{"log link to a file", victim, "it is a symbolic link"},
		{"dangling log link", absent, "it is a symbolic link"},
		{"log file of another user", "", fmt.Sprintf("it is owned by uid %d, not 0", uid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(theirs, "log")
			_ = os.Remove(logPath)
			if tc.target != "" {
				plant(tc.target, logPath)
			} else {
				testutil.AsUser(t, uid, gid, "touch", logPath)
			}
			for _, extra := range [][]string{nil, {"--daemon"}} {
				sock := filepath.Join(dir, "s3")
				out, err := run(append([]string{"--address", sock, "--config", "cmdserver.log=" + logPath}, extra...)...)
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee, "stderr: %s", out)
				require.Equal(t, 255, ee.ExitCode())
				require.Contains(t, out, "abort: opening log file: refusing "+logPath+": "+tc.want)
				require.NoFileExists(t, sock, "the server never started")
				nothingOutside()
			}
			if tc.target == "" {
				fi, err := os.Stat(logPath)
				require.NoError(t, err)
				require.Zero(t, fi.Size(), "nothing appended to the other user's file")
			}
		})
	}
}
