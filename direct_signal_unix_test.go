//go:build unix

package cmdsrv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// directHelperEnv makes the test binary a Program whose commands stand for
// the two kinds of CLI: "ignore" sleeps a minute whatever its context
// says, "watch" waits for its context and cleans up.
const directHelperEnv = "CMDSRV_TEST_DIRECT_SIGNALS"

func init() {
	if os.Getenv(directHelperEnv) != "1" {
		return
	}
	p := &Program{Name: "sigtest", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
		return protocol.HandlerFunc(signalHelperCommand), nil
	}}
	os.Exit(p.Main(os.Args))
}

func signalHelperCommand(ctx context.Context, req *protocol.Request) int {
	if req.Args[0] == "mode" {
		fmt.Fprintln(req.Stdout, req.Mode)
		return 0
	}
	fmt.Fprintln(req.Stdout, "started")
	switch req.Args[0] {
	case "ignore":
		time.Sleep(time.Minute)
		fmt.Fprintln(req.Stdout, "done")
		return 0
	case "watch":
		<-ctx.Done()
		var se *protocol.SignalError
		if !errors.As(context.Cause(ctx), &se) {
			fmt.Fprintln(req.Stdout, "cause is not a signal:", context.Cause(ctx))
			return 1
		}
		time.Sleep(20 * time.Millisecond) // cleaning up, well within the grace
		fmt.Fprintf(req.Stdout, "cleaned up after %v, status %d\n", se.Signal, se.ExitCode())
		return 7
	}
	return 2
}

func directHelper(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), directHelperEnv+"=1", ClientEnv+"=off", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// waitStarted reads r up to the command's "started" line.
func waitStarted(t *testing.T, r *bufio.Reader) {
	t.Helper()
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "started", strings.TrimSpace(line))
}

// exitOf waits for cmd and returns its wait status, failing if it has not
// ended within limit (the "ignore" command alone would take a minute).
func exitOf(t *testing.T, cmd *exec.Cmd, limit time.Duration) syscall.WaitStatus {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait: %v", err)
		}
		return cmd.ProcessState.Sys().(syscall.WaitStatus)
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-errc
		t.Fatalf("the command still ran %v after the signal", limit)
		return 0
	}
}

// TestDirectRunSignals: SIGTERM to a direct run whose command ignores its
// context ends the process by SIGTERM, as it ends a plain program; one
// whose command watches its context gets to clean up and returns its own
// status, the cause naming the signal.
func TestDirectRunSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run("ignore "+sig.String(), func(t *testing.T) {
			cmd := directHelper(t, "ignore")
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			r := bufio.NewReader(out)
			waitStarted(t, r)
			require.NoError(t, cmd.Process.Signal(sig))
			rest, _ := io.ReadAll(r)
			ws := exitOf(t, cmd, 20*time.Second)
			require.True(t, ws.Signaled(), "wait status %v: want killed by %v", ws, sig)
			require.Equal(t, sig, ws.Signal())
			require.Empty(t, string(rest), "the command never finished")
		})
	}
	t.Run("watch SIGTERM", func(t *testing.T) {
		cmd := directHelper(t, "watch")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(out)
		waitStarted(t, r)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		rest, _ := io.ReadAll(r)
		ws := exitOf(t, cmd, 20*time.Second)
		require.Equal(t, "cleaned up after terminated, status 143\n", string(rest))
		require.True(t, ws.Exited())
		require.Equal(t, 7, ws.ExitStatus())
	})
}

// TestDirectRunCtrlC: Ctrl-C typed on a real terminal reaches the direct
// run as SIGINT from the line discipline; the shell then sees "killed by
// SIGINT" for a command that ignores it, and the command's own status for
// one that cleans up.
func TestDirectRunCtrlC(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want string
	}{{"ignore", ""}, {"watch", "cleaned up after interrupt, status 130"}} {
		t.Run(tc.cmd, func(t *testing.T) {
			cmd := directHelper(t, tc.cmd)
			tty, err := pty.Start(cmd)
			require.NoError(t, err)
			defer tty.Close()
			r := bufio.NewReader(tty)
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "started", strings.TrimSpace(line))
			_, err = tty.Write([]byte{0x03}) // the terminal's intr character
			require.NoError(t, err)
			ws := exitOf(t, cmd, 20*time.Second)
			// The echoed ^C and what the command printed, up to the
			// terminal's hang-up.
			rest, _ := io.ReadAll(r)
			if tc.want == "" {
				require.True(t, ws.Signaled(), "wait status %v: want killed by SIGINT", ws)
				require.Equal(t, syscall.SIGINT, ws.Signal())
				require.NotContains(t, string(rest), "done")
				return
			}
			require.Contains(t, string(rest), tc.want)
			require.True(t, ws.Exited())
			require.Equal(t, 7, ws.ExitStatus())
		})
	}
}

// TestDirectRunKnowsItsMode: a direct run's request says so.
func TestDirectRunKnowsItsMode(t *testing.T) {
	out, err := directHelper(t, "mode").Output()
	require.NoError(t, err)
	require.Equal(t, "direct\n", string(out))
}

// TestDirectRunKeepsIgnoredSignals: a direct run started with SIGINT
// ignored (nohup, a background job of a non-interactive shell) keeps it
// ignored, as a plain Go program does.
func TestDirectRunKeepsIgnoredSignals(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command("sh", "-c", `trap "" INT; exec "$0" watch`, exe)
	cmd.Env = directHelper(t).Env
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(out)
	waitStarted(t, r)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	// SIGINT ignored: the command still waits; SIGTERM then ends it.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest, _ := io.ReadAll(r)
	ws := exitOf(t, cmd, 20*time.Second)
	require.Equal(t, "cleaned up after terminated, status 143\n", string(rest), "wait status %v", ws)
	require.Equal(t, 7, ws.ExitStatus())
}
