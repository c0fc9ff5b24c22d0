//go:build unix

package main

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestServeLifecycle: `serve --cmdserver chgunix --status`, `--restart`
// and `--stop` find the application's own server without an --address
// (the socket its own client mode uses): the status names the server's
// pid and binary, --restart hands over in place (same pid, a new start),
// --stop lets a running command finish and returns once the server is
// gone, and a second --stop says there is no server.
func TestServeLifecycle(t *testing.T) {
	e := newClientEnv(t, "own", testutil.Binary(t))
	control := func(flag string) (int, string, string) {
		c := e.command("serve", "--cmdserver", "chgunix", flag)
		c.Env = append(c.Env, "CMDSRV_CLIENT=off")
		return runCmd(t, c)
	}
	code, _, errs := e.served("true")
	require.Equal(t, 0, code, errs)
	pids := serverPids(e.dir)
	require.Len(t, pids, 1)

	started := regexp.MustCompile(`(?m)^server: pid (\d+), started (\S+)$`)
	code, out, errs := control("--status")
	require.Equal(t, 0, code, errs)
	m := started.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, fmt.Sprint(pids[0]), m[1])
	require.Contains(t, out, "binary: "+testutil.Binary(t)+" (modified ")

	code, _, errs = control("--restart")
	require.Equal(t, 0, code, errs)
	_, out, _ = control("--status")
	m2 := started.FindStringSubmatch(out)
	require.NotNil(t, m2, out)
	require.Equal(t, m[1], m2[1], "the same process, handed over")
	require.NotEqual(t, m[2], m2[2], "a new start")
	code, out, errs = e.served("echo", "after restart")
	require.Equal(t, 0, code, errs)
	require.Equal(t, "after restart\n", out)

	slow := make(chan int, 1)
	go func() {
		code, _, _ := runCmd(t, e.command("sleep", "3"))
		slow <- code
	}()
	require.Eventually(t, func() bool {
		_, out, _ := control("--status")
		return regexp.MustCompile(`(?m)^clients: \d+ served, 2 active`).MatchString(out)
	}, 10*time.Second, 20*time.Millisecond, "the sleep never started")
	code, _, errs = control("--stop")
	require.Equal(t, 0, code, errs)
	select {
	case c := <-slow:
		require.Equal(t, 0, c, "the running command finished, not cut short")
	case <-time.After(10 * time.Second):
		t.Fatal("the running command never ended")
	}
	require.Empty(t, serverPids(e.dir))

	code, _, errs = control("--stop")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "no server at "+e.sock)
}
