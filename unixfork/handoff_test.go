package unixfork

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
