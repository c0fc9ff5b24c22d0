package chgclient_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// outFiles gives a command real files for stdout and stderr, read back
// after the run.
type outFiles struct {
	stdio chgclient.Stdio
}

func newOutFiles(t *testing.T) *outFiles {
	dir := t.TempDir()
	in, err := os.Open(os.DevNull)
	require.NoError(t, err)
	out, err := os.Create(filepath.Join(dir, "out"))
	require.NoError(t, err)
	errf, err := os.Create(filepath.Join(dir, "err"))
	require.NoError(t, err)
	t.Cleanup(func() { in.Close(); out.Close(); errf.Close() })
	return &outFiles{stdio: chgclient.Stdio{Stdin: in, Stdout: out, Stderr: errf}}
}

func (o *outFiles) read(t *testing.T) (string, string) {
	out, err := os.ReadFile(o.stdio.Stdout.Name())
	require.NoError(t, err)
	errb, err := os.ReadFile(o.stdio.Stderr.Name())
	require.NoError(t, err)
	return string(out), string(errb)
}

// TestAgainstMercurialChgServer drives Mercurial's own chgunix server with
// the Go client: the client is not fitted to cmdsrv alone.
func TestAgainstMercurialChgServer(t *testing.T) {
	needUnixClient(t)
	hg := testutil.NeedExternal(t, "hg")
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "HGRCPATH=", "HGPLAIN=1", "LANG=C")
	repo := t.TempDir()
	out, err := exec.Command(hg, "init", repo).CombinedOutput()
	require.NoError(t, err, "%s", out)
	sockDir := testutil.ShortDir(t)
	sock := filepath.Join(sockDir, "server")

	run := func(args ...string) (int, string, string) {
		files := newOutFiles(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code, err := chgclient.Run(ctx, chgclient.Options{
			SocketPath: sock,
			ServerCommand: func(addr string) *exec.Cmd {
				c := exec.Command(hg, "serve", "--no-profile", "--cmdserver", "chgunix", "--address", addr, "--daemon-postexec", "chdir:/")
				c.Env = env
				return c
			},
			Args:   args,
			Env:    env,
			Dir:    repo,
			Stdio:  files.stdio,
			Debugf: t.Logf,
		})
		require.NoError(t, err)
		o, e := files.read(t)
		return code, o, e
	}

	code, stdout, stderr := run("root")
	require.Equal(t, 0, code, stderr)
	real, _ := filepath.EvalSymlinks(repo)
	require.Equal(t, real+"\n", stdout)
	_, err = os.Stat(sock)
	require.NoError(t, err, "the started server's address is renamed to the socket name")

	// A second call is served by the running server.
	code, _, stderr = run("cat", "nosuchfile")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "nosuchfile")

	// A malformed --config makes the server answer "exit 255".
	code, _, stderr = run("--config", "bogus", "root")
	require.Equal(t, 255, code)
	require.Contains(t, stderr, "malformed --config option")

	// Removing the socket makes hg's server exit by itself.
	os.RemoveAll(sockDir)
}

func TestNoServerIsNotRun(t *testing.T) {
	needUnixClient(t)
	files := newOutFiles(t)
	_, err := chgclient.Run(context.Background(), chgclient.Options{
		SocketPath: filepath.Join(testutil.ShortDir(t), "server"),
		Args:       []string{"echo", "hi"},
		Stdio:      files.stdio,
	})
	require.True(t, errors.Is(err, chgclient.ErrNotRun), "err = %v", err)

	// A server that dies before its hello is reported as not run, with
	// its own message.
	_, err = chgclient.Run(context.Background(), chgclient.Options{
		SocketPath: filepath.Join(testutil.ShortDir(t), "server"),
		ServerCommand: func(addr string) *exec.Cmd {
			return exec.Command("/bin/sh", "-c", "echo cannot start >&2; exit 3")
		},
		Args:  []string{"echo", "hi"},
		Stdio: files.stdio,
	})
	require.True(t, errors.Is(err, chgclient.ErrNotRun), "err = %v", err)
	require.True(t, strings.Contains(err.Error(), "cannot start"), "err = %v", err)
}

// TestRunHonoursContextWhileWaitingForServer: a server that never listens
// would hold Run for its whole Timeout (60 s); a cancelled ctx ends the wait
// at once, with nothing run and the cause in the error.
func TestRunHonoursContextWhileWaitingForServer(t *testing.T) {
	needUnixClient(t)
	files := newOutFiles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var server *exec.Cmd
	t.Cleanup(func() {
		if server != nil && server.Process != nil {
			_ = server.Process.Kill()
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := chgclient.Run(ctx, chgclient.Options{
			SocketPath: filepath.Join(testutil.ShortDir(t), "server"),
			ServerCommand: func(addr string) *exec.Cmd {
				// A server that starts and never listens; the caller
				// gives up as soon as it is started.
				server = exec.Command("sleep", "600")
				cancel()
				return server
			},
			Args:    []string{"echo", "hi"},
			Stdio:   files.stdio,
			Timeout: time.Hour,
		})
		done <- err
	}()
	select {
	case err := <-done:
		require.True(t, errors.Is(err, chgclient.ErrNotRun), "err = %v", err)
		require.True(t, errors.Is(err, context.Canceled), "err = %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("Run still waits for the server after its context was cancelled")
	}

	// A context already done starts nothing.
	started := false
	_, err := chgclient.Run(ctx, chgclient.Options{
		SocketPath: filepath.Join(testutil.ShortDir(t), "server"),
		ServerCommand: func(addr string) *exec.Cmd {
			started = true
			return exec.Command("true")
		},
		Args:  []string{"echo", "hi"},
		Stdio: files.stdio,
	})
	require.True(t, errors.Is(err, chgclient.ErrNotRun), "err = %v", err)
	require.True(t, errors.Is(err, context.Canceled), "err = %v", err)
	require.False(t, started, "a server was started for a cancelled context")
}

// TestNotRunKeepsCause: an error of Run wraps both ErrNotRun and its
// cause, so that a caller can tell why nothing ran.
func TestNotRunKeepsCause(t *testing.T) {
	needUnixClient(t)
	files := newOutFiles(t)
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	_, err := chgclient.Run(context.Background(), chgclient.Options{
		SocketPath: filepath.Join(notDir, "server"), // its directory is a file
		Args:       []string{"echo", "hi"},
		Stdio:      files.stdio,
	})
	require.ErrorIs(t, err, chgclient.ErrNotRun)
	require.ErrorIs(t, err, syscall.ENOTDIR)
}

// TestStaleSocketStartsServer: a socket file nobody listens on (a server
// that died without removing it) counts as no server, so the client starts
// one instead of giving up on "connection refused".
func TestStaleSocketStartsServer(t *testing.T) {
	needUnixClient(t)
	files := newOutFiles(t)
	path := filepath.Join(testutil.ShortDir(t), "server")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: path})) // bound, never listening

	started := false
	_, err = chgclient.Run(context.Background(), chgclient.Options{
		SocketPath: path,
		ServerCommand: func(addr string) *exec.Cmd {
			started = true
			return exec.Command("/bin/sh", "-c", "echo cannot start >&2; exit 3")
		},
		Args:  []string{"echo", "hi"},
		Stdio: files.stdio,
	})
	require.True(t, errors.Is(err, chgclient.ErrNotRun), "err = %v", err)
	require.True(t, started, "no server start was tried: %v", err)
	require.Contains(t, err.Error(), "cannot start")
}

func TestSocketDirIsPrivate(t *testing.T) {
	needUnixClient(t)
	base := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", base)
	dir, err := chgclient.SocketDir("app")
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	require.NoError(t, os.Chmod(dir, 0o755))
	_, err = chgclient.SocketDir("app")
	require.ErrorIs(t, err, chgclient.ErrForeignDir)

	if os.Getuid() == 0 {
		require.NoError(t, os.Chmod(dir, 0o700))
		require.NoError(t, os.Chown(dir, 65534, 65534))
		_, err = chgclient.SocketDir("app")
		require.ErrorIs(t, err, chgclient.ErrForeignDir)
	}
}

// needUnixClient skips a test of the chg client where it does not run:
// it needs unix sockets and descriptor passing, which Windows lacks (the
// client mode runs commands in-process there).
func needUnixClient(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the chg client needs unix sockets and descriptor passing, which Windows lacks")
	}
}
