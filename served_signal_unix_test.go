//go:build unix

package cmdsrv

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/stretchr/testify/require"
)

// servedHelper is directHelper's Program as a served client: the own
// client mode (client "auto") or Mercurial's chg (client "chg"), on a
// server of its own in a temporary directory.
func servedHelper(t *testing.T, client string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("/tmp", "sig")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	env := append(os.Environ(), directHelperEnv+"=1", "GORACE=atexit_sleep_ms=0", "XDG_RUNTIME_DIR="+dir)
	var cmd *exec.Cmd
	switch client {
	case "auto":
		cmd = exec.Command(exe, args...)
		env = append(env, ClientEnv+"=auto", SockNameEnv+"="+filepath.Join(dir, "s"))
	case "thin":
		cmd = exec.Command(testutil.BuildCommand(t, "./cmd/cmdsrv-chg", "cmdsrv-chg"), args...)
		env = append(env, "CMDSRV_APP="+exe, SockNameEnv+"="+filepath.Join(dir, "s"))
	case "chg":
		chg := testutil.NeedExternal(t, "chg")
		cmd = exec.Command(chg, args...)
		env = append(env, "CHGHG="+exe, "CHGSOCKNAME="+filepath.Join(dir, "s"))
	}
	cmd.Env = env
	return cmd
}

// TestServedCtrlC: Ctrl-C typed on a real terminal to a served call whose
// command ignores its context ends it at once: the worker dies of SIGINT
// after the grace and its master reports it; the own client mode then
// dies of SIGINT as the plain program would, chg exits 130 (it has no
// way to die of it). A command that watches its context cleans up and
// its status is the call's.
func TestServedCtrlC(t *testing.T) {
	for _, client := range []string{"auto", "thin", "chg"} {
		for _, tc := range []struct {
			cmd  string
			want string
		}{{"ignore", ""}, {"watch", "cleaned up after interrupt, status 130"}} {
			t.Run(client+" "+tc.cmd, func(t *testing.T) {
				cmd := servedHelper(t, client, tc.cmd)
				tty, err := pty.Start(cmd)
				require.NoError(t, err)
				defer tty.Close()
				r := bufio.NewReader(tty)
				line, err := r.ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, "started", strings.TrimSpace(line))
				time.Sleep(50 * time.Millisecond) // past the client's catchDelay: it forwards
				_, err = tty.Write([]byte{0x03})
				require.NoError(t, err)
				ws := exitOf(t, cmd, 20*time.Second)
				rest, _ := io.ReadAll(r)
				switch {
				case tc.want != "":
					require.Contains(t, string(rest), tc.want)
					require.True(t, ws.Exited(), "wait status %v", ws)
					require.Equal(t, 7, ws.ExitStatus())
				case client == "chg":
					require.True(t, ws.Exited(), "wait status %v", ws)
					require.Equal(t, 130, ws.ExitStatus())
					require.NotContains(t, string(rest), "done")
				default:
					require.True(t, ws.Signaled(), "wait status %v: want killed by SIGINT", ws)
					require.Equal(t, syscall.SIGINT, ws.Signal())
					require.NotContains(t, string(rest), "done")
				}
			})
		}
	}
}

// TestServedSIGTERM: SIGTERM to the client's process, forwarded to the
// worker, ends a command that ignores its context as a plain program ends
// (killed by SIGTERM; chg, which cannot die of it, exits 143); one that
// watches its context cleans up first.
func TestServedSIGTERM(t *testing.T) {
	for _, client := range []string{"auto", "thin", "chg"} {
		for _, tc := range []struct {
			cmd  string
			want string
		}{{"ignore", ""}, {"watch", "cleaned up after terminated, status 143\n"}} {
			t.Run(client+" "+tc.cmd, func(t *testing.T) {
				cmd := servedHelper(t, client, tc.cmd)
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				r := bufio.NewReader(out)
				waitStarted(t, r)
				time.Sleep(50 * time.Millisecond) // past the client's catchDelay
				require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
				rest, _ := io.ReadAll(r)
				ws := exitOf(t, cmd, 20*time.Second)
				switch {
				case tc.want != "":
					require.Equal(t, tc.want, string(rest))
					require.True(t, ws.Exited())
					require.Equal(t, 7, ws.ExitStatus())
				case client == "chg":
					require.True(t, ws.Exited(), "wait status %v", ws)
					require.Equal(t, 143, ws.ExitStatus())
					require.Empty(t, string(rest))
				default:
					require.True(t, ws.Signaled(), "wait status %v: want killed by SIGTERM", ws)
					require.Equal(t, syscall.SIGTERM, ws.Signal())
					require.Empty(t, string(rest))
				}
			})
		}
	}
}
