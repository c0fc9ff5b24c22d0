//go:build unix

package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// helperEnv selects a helper role when the test binary is re-executed.
const helperEnv = "CMDSRV_DAEMON_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		// Fails the package when a test leaves a goroutine behind.
		goleak.VerifyTestMain(m)
	case "spawn-ok":
		os.Exit(helperSpawnOK(os.Args[1:]))
	case "spawn-fail":
		fmt.Fprintln(os.Stderr, "abort: cannot bind: the reason from the child")
		os.Exit(3)
	case "activated":
		os.Exit(helperActivated())
	}
	os.Exit(2)
}

// helperSpawnOK acts as the detached child: it finds its postexec
// instructions among its arguments and detaches, then writes one line to
// stderr (now /dev/null) and waits to be killed.
func helperSpawnOK(args []string) int {
	var vals []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--daemon-postexec="); ok {
			vals = append(vals, v)
		}
	}
	pe, err := ParsePostexec(append(vals, "chdir:/"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "before detach")
	if err := Detach(pe, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "after detach: nobody sees this")
	time.Sleep(time.Minute)
	return 0
}

// helperActivated serves one hello per connection on the socket systemd
// passed, until the first client says "quit".
func helperActivated() int {
	l, err := ActivationListener()
	if err != nil || l == nil {
		fmt.Fprintln(os.Stderr, "not activated:", err)
		return 1
	}
	l2, _ := ActivationListener()
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		fmt.Fprintf(c, "pid=%d same=%v env=%q\n", os.Getpid(), l2 == l, os.Getenv("LISTEN_FDS"))
		c.Close()
		if l2 == l {
			l.Close() // must not unlink the socket file
			return 0
		}
	}
}

func TestParsePostexec(t *testing.T) {
	pe, err := ParsePostexec([]string{"unlink:/tmp/x", "none", "chdir:/"})
	require.NoError(t, err)
	require.Equal(t, Postexec{Present: true, Unlink: "/tmp/x", Chdir: "/"}, pe)

	pe, err = ParsePostexec([]string{"none"})
	require.NoError(t, err)
	require.True(t, pe.Present)

	pe, err = ParsePostexec(nil)
	require.NoError(t, err)
	require.False(t, pe.Present)

	_, err = ParsePostexec([]string{"chdir:/", "bogus:x"})
	require.EqualError(t, err, "invalid value for --daemon-postexec: bogus:x")
	var ie *InvalidPostexecError
	require.True(t, errors.As(err, &ie))
}

func TestChildArgsDropCwd(t *testing.T) {
	got := ChildArgs([]string{"serve", "--cwd", "/a", "--cmdserver", "unix", "--cwd=/b", "--daemon"}, "/tmp/lock")
	require.Equal(t, []string{"serve", "--cmdserver", "unix", "--daemon", "--daemon-postexec=unlink:/tmp/lock"}, got)
}

func TestLogWriterFormatAndTrack(t *testing.T) {
	var buf bytes.Buffer
	w := &LogWriter{Out: &buf, Root: "cmdsrv", PID: 4242,
		Now: func() time.Time { return time.Date(2024, 3, 5, 7, 8, 9, 0, time.Local) }}
	log := NewLogger("cmdsrv", w, hclog.Info)
	log.Info("forked worker process (pid=12)")
	log.Named("chgserver").Warn("socket gone", "path", "/x")
	log.Debug("not at this level")
	require.Equal(t,
		"2024/03/05 07:08:09 (4242)> forked worker process (pid=12)\n"+
			"2024/03/05 07:08:09 (4242)> [WARN]  chgserver: socket gone: path=/x\n",
		buf.String())

	buf.Reset()
	w.Tracked = ParseTrackLog("chgserver, repocache")
	log.Info("dropped: cmdserver kind")
	log.Named("chgserver").Info("kept")
	require.Equal(t, "2024/03/05 07:08:09 (4242)> chgserver: kept\n", buf.String())

	buf.Reset()
	w.Tracked = ParseTrackLog("*")
	log.Info("all")
	require.Contains(t, buf.String(), "> all\n")
}

func TestLogFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.log")
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	l, err := OpenLog(path, 100, 3)
	require.NoError(t, err)
	line := []byte(strings.Repeat("x", 29) + "\n")
	for i := 0; i < 40; i++ {
		_, err := l.Write(line)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	names, err := filepath.Glob(path + "*")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{path, path + ".1", path + ".2"}, names)
	for _, n := range names {
		fi, err := os.Stat(n)
		require.NoError(t, err)
		require.LessOrEqual(t, fi.Size(), int64(100+len(line)), n)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the log is the server user's alone")
	}

	// Reopening a full log rotates it before the first write.
	l, err = OpenLog(path, 100, 1)
	require.NoError(t, err)
	_, err = l.Write(line)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, line, b)
}

func TestLogFileNoRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := OpenLog(path, 0, 7)
	require.NoError(t, err)
	for i := 0; i < 100; i++ {
		_, _ = l.Write([]byte("0123456789\n"))
	}
	require.NoError(t, l.Close())
	names, _ := filepath.Glob(path + "*")
	require.Equal(t, []string{path}, names)
}

func TestPIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pid")
	require.NoError(t, os.WriteFile(path, []byte("99999999\n"), 0o644))
	p, err := OpenPIDFile(path, false)
	require.NoError(t, err)
	require.NoError(t, p.Write(123))
	b, _ := os.ReadFile(path)
	require.Equal(t, "123\n", string(b))

	p, err = OpenPIDFile(path, true)
	require.NoError(t, err)
	require.NoError(t, p.Write(456))
	b, _ = os.ReadFile(path)
	require.Equal(t, "123\n456\n", string(b))

	_, err = OpenPIDFile(filepath.Join(t.TempDir(), "missing", "pid"), false)
	require.ErrorContains(t, err, "opening pid file")
}

// TestPIDFileNeverFollowsLinks: a link at the pid file's path is replaced,
// never written through; nothing exists before Write; appending through a
// link is refused before the server starts.
func TestPIDFileNeverFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	victim, absent := filepath.Join(dir, "victim"), filepath.Join(dir, "absent")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	link, dangling := filepath.Join(dir, "pid"), filepath.Join(dir, "dangling")
	require.NoError(t, os.Symlink(victim, link))
	require.NoError(t, os.Symlink(absent, dangling))

	_, err := OpenPIDFile(dangling, false) // a start that failed: never written
	require.NoError(t, err)
	require.NoFileExists(t, absent)
	fi, err := os.Lstat(dangling)
	require.NoError(t, err)
	require.Equal(t, os.ModeSymlink, fi.Mode().Type(), "left alone")

	p, err := OpenPIDFile(link, false)
	require.NoError(t, err)
	require.NoError(t, p.Write(42))
	b, _ := os.ReadFile(victim)
	require.Equal(t, "precious\n", string(b))
	fi, err = os.Lstat(link)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "the link was replaced by the pid file")
	b, _ = os.ReadFile(link)
	require.Equal(t, "42\n", string(b))
	names, _ := filepath.Glob(filepath.Join(dir, ".*"))
	require.Empty(t, names, "no temporary file left")

	require.NoError(t, os.Remove(link))
	require.NoError(t, os.Symlink(victim, link))
	_, err = OpenPIDFile(link, true)
	require.ErrorIs(t, err, ErrNotOwned)
	require.ErrorContains(t, err, "is a symbolic link")

	// A link planted between the check and the write is refused too.
	require.NoError(t, os.Remove(link))
	p, err = OpenPIDFile(link, true)
	require.NoError(t, err)
	require.NoError(t, os.Symlink(victim, link))
	require.ErrorIs(t, p.Write(7), ErrNotOwned)
	b, _ = os.ReadFile(victim)
	require.Equal(t, "precious\n", string(b))
}

// TestLogFileRefusesLinks: the log is opened without following a link
// (a dangling one is not created either) and must not have other links.
func TestLogFileRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim, absent := filepath.Join(dir, "victim"), filepath.Join(dir, "absent")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	for _, target := range []string{victim, absent} {
		link := filepath.Join(dir, "log-"+filepath.Base(target))
		require.NoError(t, os.Symlink(target, link))
		_, err := OpenLog(link, 0, 1)
		require.ErrorIs(t, err, ErrNotOwned)
		require.ErrorContains(t, err, "opening log file: refusing "+link+": it is a symbolic link")
	}
	hard := filepath.Join(dir, "hard")
	require.NoError(t, os.Link(victim, hard))
	_, err := OpenLog(hard, 0, 1)
	require.ErrorContains(t, err, "has 2 hard links")
	b, _ := os.ReadFile(victim)
	require.Equal(t, "precious\n", string(b))
	require.NoFileExists(t, absent)
}

func helperSpawn(t *testing.T, role string) *Spawn {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return &Spawn{Args0: exe, Args: []string{"--cwd", "/nonexistent"}, Env: append(os.Environ(), helperEnv+"="+role)}
}

func TestSpawnWaitsForReadyChild(t *testing.T) {
	var relay bytes.Buffer
	s := helperSpawn(t, "spawn-ok")
	s.Stderr = &relay
	pid, err := s.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	require.Equal(t, "before detach\n", relay.String())

	sid, err := unix.Getsid(pid)
	require.NoError(t, err)
	require.Equal(t, pid, sid, "the child leads a new session")
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	require.NoError(t, err)
	require.Equal(t, "/", cwd)
	for fd := 0; fd <= 2; fd++ {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		require.NoError(t, err)
		require.Equal(t, os.DevNull, target, "fd %d", fd)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	require.NotContains(t, string(cmdline), "--cwd", "--cwd is not passed on")
	require.Regexp(t, regexp.MustCompile(`--daemon-postexec=unlink:\S*cmdsrv-service-`), string(cmdline))
}

func TestSpawnRelaysChildFailure(t *testing.T) {
	var relay bytes.Buffer
	s := helperSpawn(t, "spawn-fail")
	s.Stderr = &relay
	_, err := s.Start()
	require.ErrorIs(t, err, ErrChildFailed)
	require.ErrorContains(t, err, "exit status 3")
	require.Equal(t, "abort: cannot bind: the reason from the child\n", relay.String())
}

func TestActivationListenerNotActivated(t *testing.T) {
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	l, err := activationListener()
	require.NoError(t, err)
	require.Nil(t, l, "LISTEN_PID of another process is not ours")
}

func TestActivationWithSystemd(t *testing.T) {
	sa := testutil.NeedExternal(t, "systemd-socket-activate")
	exe, err := os.Executable()
	require.NoError(t, err)
	sock := filepath.Join(testutil.ShortDir(t), "s")
	cmd := exec.Command(sa, "-l", sock, "-E", helperEnv+"=activated", exe)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var c net.Conn
	require.Eventually(t, func() bool {
		c, err = net.Dial("unix", sock)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "socket-activate never listened: %s", &stderr)
	buf := make([]byte, 200)
	n, _ := c.Read(buf)
	c.Close()
	require.Regexp(t, `^pid=\d+ same=true env=""\n$`, string(buf[:n]), "stderr: %s", &stderr)
	require.NoError(t, cmd.Wait(), "stderr: %s", &stderr)
	_, err = os.Stat(sock)
	require.NoError(t, err, "an activated server never unlinks its socket")
}

// A FIFO planted at the log path is refused with a clear error, whether or
// not something reads it, instead of blocking open(2) for a reader.
func TestLogFileRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "log")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	open := func() error {
		done := make(chan error, 1)
		go func() {
			l, err := OpenLog(fifo, 0, 1)
			if l != nil {
				l.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			// Unblock the open before failing, so the goroutine ends.
			if r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
				r.Close()
			}
			t.Fatal("opening a FIFO as the log file blocked")
			return nil
		}
	}
	err := open() // no reader
	require.ErrorIs(t, err, ErrNotOwned)
	require.ErrorContains(t, err, "is a named pipe (FIFO), not a regular file")

	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	require.NoError(t, err)
	defer r.Close()
	err = open() // a reader: open succeeds, the type check refuses it
	require.ErrorIs(t, err, ErrNotOwned)
	require.ErrorContains(t, err, "is a named pipe (FIFO), not a regular file")

	// A character device (root's /dev/null) is still a valid log.
	l, err := OpenLog("/dev/null", 0, 1)
	require.NoError(t, err)
	l.Close()
}
