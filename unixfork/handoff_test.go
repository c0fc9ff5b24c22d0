package unixfork

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A worker that exits during a command (os.Exit, a panic in a goroutine)
// ends that command: its client gets what the command wrote and the exit
// status, and the pool goes on serving.
func TestWorkerExitIsTheCommandsStatus(t *testing.T) {
	ts := startServer(t)
	code, out, _ := run(t, dial(t, ts.addr), "exit", "3")
	require.Equal(t, 3, code)
	require.Equal(t, "leaving\n", out)
	code, out, _ = run(t, dial(t, ts.addr), "gopanic")
	require.Equal(t, 2, code) // Go's status for an unrecovered panic
	require.Equal(t, "panicking\n", out)
	code, out, _ = run(t, dial(t, ts.addr), "echo", "still", "serving")
	require.Equal(t, 0, code)
	require.Equal(t, "still serving\n", out)
}

// What a command lent the process wrote to fd 1 and fd 2 before exiting
// reaches its client to the last byte: what the worker's relay still had
// in the pipes, and the frame it was writing when it died, are sent by the
// master.
func TestWorkerExitDeliversLentOutput(t *testing.T) {
	ts := startServer(t, "test.client-process=1")
	for _, n := range []int{10, 70 << 10, 1 << 20} {
		for i := range 5 {
			code, out, errOut := run(t, dial(t, ts.addr), "fdexit", fmt.Sprint(n))
			require.Equal(t, 4, code, "n=%d run %d", n, i)
			require.Equal(t, n, len(out), "n=%d run %d", n, i)
			for j := range len(out) {
				if out[j] != byte('a'+j%26) {
					t.Fatalf("n=%d run %d: byte %d is %q", n, i, j, out[j])
				}
			}
			require.True(t, strings.HasSuffix(errOut, "to fd 2\n"), "stderr %q", errOut)
		}
	}
}

// Ctrl-Z just after the hello: a worker stopped (SIGSTOP, as chg forwards
// Ctrl-Z) before its client's first request arrives counts as busy with
// that client, never as an idle worker that stopped answering, however
// long it stays stopped and whoever else connects meanwhile; `fg`
// (SIGCONT) resumes the session.
func TestWorkerStoppedAfterHelloIsNotKilled(t *testing.T) {
	ts := startServer(t, "cmdserver.worker-answer-timeout=200ms", "cmdserver.min-spare-workers=1")
	c := dial(t, ts.addr)
	pid := c.Hello.PID
	require.NoError(t, unix.Kill(pid, unix.SIGSTOP))
	stopped := true
	defer func() {
		if stopped {
			_ = unix.Kill(pid, unix.SIGCONT)
		}
	}()
	// Other clients come and go while it is stopped: the pool's pings
	// and its look for idle workers to evict run meanwhile.
	deadline := time.Now().Add(2 * time.Second) // ten answer timeouts
	for time.Now().Before(deadline) {
		code, out, _ := run(t, dial(t, ts.addr), "echo", "other")
		require.Equal(t, 0, code)
		require.Equal(t, "other\n", out)
		time.Sleep(100 * time.Millisecond)
	}
	require.False(t, processGone(pid), "the stopped worker was killed")
	require.NoError(t, unix.Kill(pid, unix.SIGCONT))
	stopped = false
	code, out, _ := run(t, c, "pid")
	require.Equal(t, 0, code)
	require.Equal(t, fmt.Sprintln(pid), out)
}

// A worker calls its Handler's Prepare once, before its first client.
func TestWorkerPreparesBeforeItsClient(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	code, out, _ := run(t, c, "prepares")
	require.Equal(t, 0, code)
	require.Equal(t, "1\n", out)
	code, out, _ = run(t, c, "prepares")
	require.Equal(t, 0, code)
	require.Equal(t, "1\n", out, "called once per worker, not per command")
}
