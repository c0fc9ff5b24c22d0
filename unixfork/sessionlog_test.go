package unixfork

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/clientraw"
)

// TestSessionErrorLoggedOnce: a session that ends in error (an unknown
// request) leaves one line in the master's log, not the worker's stderr
// copy of the abort message as well.
func TestSessionErrorLoggedOnce(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	require.NoError(t, clientraw.Send(c, []byte("nosuchrequest\n")))
	_, _, _, err := clientraw.ReadFrame(c)
	require.NoError(t, err)
	// The worker exits after an error: its exit is logged after its log
	// lines are relayed.
	waitFor(t, "the worker's exit", func() bool { return strings.Contains(ts.log.String(), "exit status 255") })
	var lines []string
	for _, l := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(l, "unknown command nosuchrequest") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, "log:\n%s", ts.log)
}
