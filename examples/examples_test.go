// Package examples_test drives the example applications as their users
// would: over a pipe, over the unix service, and through the real chg.
package examples_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

func startPipe(t *testing.T, bin string, args ...string) *client.Client {
	t.Helper()
	c, err := client.StartPipe(context.Background(), bin, args...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWordindexPipe(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/wordindex", "wordindex")
	direct, err := exec.Command(bin, "prefix", "gra", "5").Output()
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(string(direct)), "\n"), 5)

	c := startPipe(t, bin)
	code, out, _ := testutil.Run(t, c, "prefix", "gra", "5")
	require.Equal(t, 0, code)
	require.Equal(t, string(direct), out, "served and direct answers agree")

	// The index is built once: the pid that answers stays the same.
	_, stats1, _ := testutil.Run(t, c, "stats")
	_, stats2, _ := testutil.Run(t, c, "stats")
	require.Equal(t, stats1, stats2)
	require.Contains(t, stats1, "source: generated")

	code, _, _ = testutil.Run(t, c, "has", "no-such-word")
	require.Equal(t, 1, code)
}

func TestGreetPipe(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/greet", "greet")
	c := startPipe(t, bin, "--config", "ui.interactive=true")
	code, out, _ := testutil.Run(t, c, "hello", "--shout", "ann")
	require.Equal(t, 0, code)
	require.Equal(t, "HELLO ANN\n", out)
	// A flag of one request does not leak into the next.
	code, out, _ = testutil.Run(t, c, "hello", "ann")
	require.Equal(t, 0, code)
	require.Equal(t, "hello ann\n", out)
	code, out, _ = testutil.Run(t, c, "--cwd", "/tmp", "where")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "/tmp "), out)
	code, _, _ = testutil.Run(t, c, "fail", "4")
	require.Equal(t, 4, code)

	var stdout strings.Builder
	code, err := c.RunCommand(context.Background(), []string{"ask", "who?"}, &client.RunOptions{
		Stdout: &stdout,
		Line:   func(int) ([]byte, error) { return []byte("zoe\n"), nil },
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "who? answer: zoe\n", stdout.String())
}
