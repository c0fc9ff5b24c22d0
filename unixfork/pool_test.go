package unixfork

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// serveHelperEnv makes the test binary a server at the given address, with
// RLIMIT_NOFILE lowered to UNIXFORK_TEST_NOFILE (soft and hard, so that
// neither the Go runtime nor the workers raise it again) and config
// options from UNIXFORK_TEST_CONFIG (space-separated). It prints "ready"
// once listening and serves until SIGTERM.
const serveHelperEnv = "UNIXFORK_TEST_SERVE"

func serveHelper(addr string) int {
	if s := os.Getenv("UNIXFORK_TEST_NOFILE"); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		if err := setNoFileLimit(n); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return 2
		}
	}
	cfg := &protocol.Config{}
	if err := cfg.Apply(strings.Fields(os.Getenv("UNIXFORK_TEST_CONFIG"))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var hog []*os.File
	srv := &Server{
		Address: addr,
		Session: protocol.SessionOptions{Config: cfg},
		Logger:  hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Debug}),
		Ready: func() {
			if os.Getenv("UNIXFORK_TEST_HOG") != "" {
				// Take every descriptor but one (enough to accept a
				// client, not to start a worker) until SIGUSR1.
				for {
					f, err := os.Open(os.DevNull)
					if err != nil {
						break
					}
					hog = append(hog, f)
				}
				hog[len(hog)-1].Close()
				hog = hog[:len(hog)-1]
				release := make(chan os.Signal, 1)
				signal.Notify(release, syscall.SIGUSR1)
				go func() {
					<-release
					for _, f := range hog {
						f.Close()
					}
					fmt.Fprintln(os.Stderr, "released descriptors")
				}()
			}
			fmt.Println("ready")
		},
	}
	ctx, stop := signalContext()
	defer stop()
	if err := srv.ListenAndServe(ctx); err != ErrServerClosed {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func status(t *testing.T, ts *testServer) *Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := QueryStatus(ctx, ts.addr)
	require.NoError(t, err)
	return st
}

// TestDefaultConfigBackToBack: with nothing configured, a script that
// connects again as soon as its last call ended is served by reused warm
// workers, and the status counts it.
func TestDefaultConfigBackToBack(t *testing.T) {
	ts := startServer(t)
	pids := map[int]int{}
	const n = 40
	for i := 0; i < n; i++ {
		c := dial(t, ts.addr)
		code, out, _ := run(t, c, "echo", strconv.Itoa(i))
		require.Equal(t, 0, code)
		require.Equal(t, strconv.Itoa(i)+"\n", out)
		pids[c.Hello.PID]++
		c.Close()
	}
	require.Less(t, len(pids), n/2, "workers are not reused by default: %v", pids)
	st := status(t, ts)
	require.GreaterOrEqual(t, st.ClientsServed, int64(n+1))
	require.Equal(t, int64(0), st.WorkersCrashed)
	require.GreaterOrEqual(t, st.Busy, 1, "the status request's own worker is busy")
	t.Logf("status: %+v", st)
	var b strings.Builder
	require.NoError(t, st.Format(&b))
	require.Contains(t, b.String(), fmt.Sprintf("clients: %d served", st.ClientsServed))
}

// TestBurst32: 32 clients at once at the default config are all served,
// each by a worker of its own at a time, and the pool grew.
func TestBurst32(t *testing.T) {
	ts := startServer(t)
	ts.waitIdle(t, 2)
	const n = 32
	manyClients(t, ts.addr, n, 60*time.Second, func(ctx context.Context, i int, c *client.Client) error {
		return echoed(ctx, c, fmt.Sprintf("burst %d", i))
	})
	st := status(t, ts)
	require.GreaterOrEqual(t, st.ClientsServed, int64(n))
	require.Equal(t, int64(0), st.WorkersCrashed)
}

// TestIdleClientsDoNotStarveOthers: connections that send nothing hold
// every worker slot; a new client still gets served, because an idle one
// is closed with a message on 'e', while a running command is not cut.
func TestIdleClientsDoNotStarveOthers(t *testing.T) {
	ts := startServer(t, "cmdserver.max-clients=4", "cmdserver.client-idle-timeout=200ms")
	// One client runs a command that outlasts everything below.
	busy := dial(t, ts.addr)
	busyDone := make(chan string, 1)
	started := make(chan struct{}, 1)
	go func() {
		code, err := busy.RunCommand(context.Background(), []string{"sleep", "3s"}, &client.RunOptions{Stdout: signalWriter(started)})
		busyDone <- fmt.Sprintf("%d %v", code, err)
	}()
	<-started // running: from now on it must not be taken for idle
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", ts.addr)
		require.NoError(t, err)
		defer c.Close()
		ch, _, _, err := wire.ReadFrame(c, 0)
		require.NoError(t, err)
		require.Equal(t, byte('o'), ch, "hello")
		idle = append(idle, c)
	}
	waitFor(t, "four clients counted", func() bool { return ts.ActiveClients() == 4 })
	newcomer := dial(t, ts.addr) // waits until an idle one is closed
	_, out, _ := run(t, newcomer, "echo", "served")
	require.Equal(t, "served\n", out)

	closed := 0
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		ch, payload, _, err := wire.ReadFrame(c, 0)
		if err != nil {
			continue // still open: not the one closed
		}
		require.Equal(t, byte('e'), ch)
		require.Contains(t, string(payload), "sent nothing")
		require.Contains(t, string(payload), "cmdserver.client-idle-timeout")
		closed++
	}
	require.GreaterOrEqual(t, closed, 1)
	require.Contains(t, ts.log.String(), "closed an idle client connection")
	require.Equal(t, "0 <nil>", <-busyDone, "the running command was cut")
	st := status(t, ts)
	require.GreaterOrEqual(t, st.IdleClientsClosed, int64(1))
	require.GreaterOrEqual(t, st.MaxClientsReached, int64(1))
}

// TestStoppedIdleWorkerReplaced: an idle worker stopped with SIGSTOP no
// longer counts as ready; it is killed and replaced, and a new client is
// served by another worker. The health watcher sleeps while the ping is
// unanswered (an answer timeout shorter and longer than the ping
// interval): it checks a few times a second, not in a loop.
func TestStoppedIdleWorkerReplaced(t *testing.T) {
	for name, opts := range map[string][]string{
		"500ms": {"cmdserver.worker-answer-timeout=500ms"},
		"2s":    {"cmdserver.worker-answer-timeout=2s"},
		// Pinged every quietPingInterval once nobody came for the spare
		// idle timeout: found later, but found.
		"quiet pool": {"cmdserver.spare-idle-timeout=200ms"},
	} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, append([]string{"cmdserver.workers=1"}, opts...)...)
			ts.waitIdle(t, 1)
			if name == "quiet pool" {
				waitFor(t, "the pool quiet", func() bool {
					ts.mu.Lock()
					defer ts.mu.Unlock()
					return time.Since(ts.pool.lastAct) > time.Second
				})
			}
			ts.mu.Lock()
			pid := ts.pool.idle[0].pid
			checks0 := ts.pool.checks
			ts.mu.Unlock()
			require.NoError(t, unix.Kill(pid, unix.SIGSTOP))
			t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGCONT) })
			waitStopped(t, pid)
			c := dial(t, ts.addr)
			require.NotEqual(t, pid, c.Hello.PID)
			_, out, _ := run(t, c, "echo", "ok")
			require.Equal(t, "ok\n", out)
			waitFor(t, "the stopped worker killed", func() bool { return processGone(pid) })
			require.Contains(t, ts.log.String(), "idle worker stopped answering")
			require.GreaterOrEqual(t, status(t, ts).WorkersUnresponsive, int64(1))
			ts.mu.Lock()
			checks := ts.pool.checks - checks0
			ts.mu.Unlock()
			// About one a second per round of pings, a few more for the
			// workers started meanwhile; a watcher that spins runs
			// hundreds of thousands.
			require.Less(t, checks, 100, "health checks while the worker was stopped")
		})
	}
}

// waitStopped waits until every thread of process pid has stopped (kill
// returns before they all have).
func waitStopped(t testing.TB, pid int) {
	t.Helper()
	waitFor(t, "the worker stopped", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(b))
		return err == nil && len(f) > 2 && f[2] == "T"
	})
}

// TestStoppedAfterAccept: a worker stopped (SIGSTOP) right after its
// client got its hello holds that client: it is not killed as an idle
// worker that stopped answering, and once continued it runs the client's
// command. The master knows of the client before the hello goes out.
func TestStoppedAfterAccept(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.worker-answer-timeout=300ms")
	ts.waitIdle(t, 1)
	c := dial(t, ts.addr)
	pid := c.Hello.PID
	require.NoError(t, unix.Kill(pid, unix.SIGSTOP))
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGCONT) })
	waitStopped(t, pid)
	// Past a round of pings and the answer timeout: a worker counted as
	// idle would be killed by now.
	time.Sleep(pingInterval + 3*300*time.Millisecond)
	require.False(t, processGone(pid), "the stopped worker with a client was killed")
	require.NoError(t, unix.Kill(pid, unix.SIGCONT))
	_, out, _ := run(t, c, "echo", "ok")
	require.Equal(t, "ok\n", out)
	require.NotContains(t, ts.log.String(), "idle worker stopped answering")
}

// TestAllIdleWorkersStopped: with every idle worker of a quiet pool
// stopped (SIGSTOP), a new client is served promptly by a worker started
// for it, not after the next round of pings (5 s in a quiet pool) and its
// answer timeout; the stopped ones are found and killed.
func TestAllIdleWorkersStopped(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=2", "cmdserver.spare-idle-timeout=200ms")
	ts.waitIdle(t, 2)
	waitFor(t, "the pool quiet", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return time.Since(ts.pool.lastAct) > time.Second
	})
	ts.mu.Lock()
	var pids []int
	for _, w := range ts.pool.idle {
		pids = append(pids, w.pid)
	}
	ts.mu.Unlock()
	for _, pid := range pids {
		require.NoError(t, unix.Kill(pid, unix.SIGSTOP))
		t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGCONT) })
		waitStopped(t, pid)
	}
	// Well within the 5 s of a quiet pool's ping round, on a loaded
	// machine too.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, ts.addr)
	require.NoError(t, err, "the client was not served in time; log:\n%s", ts.log)
	defer c.Close()
	require.NotContains(t, pids, c.Hello.PID)
	_, out, _ := run(t, c, "echo", "ok")
	require.Equal(t, "ok\n", out)
	for _, pid := range pids {
		waitFor(t, "the stopped worker killed", func() bool { return processGone(pid) })
	}
	require.Contains(t, ts.log.String(), "a client waits while workers count as ready")
	require.GreaterOrEqual(t, status(t, ts).WorkersUnresponsive, int64(2))
}

// TestHangingConstructor: a worker whose Handler constructor hangs is
// killed at the start timeout, logged, and the client waiting for it is
// told why.
func TestHangingConstructor(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=0", "test.init-delay=1h", "cmdserver.worker-start-timeout=1s")
	require.Contains(t, refusal(t, ts.addr), "cmdserver.worker-start-timeout=1s")
	require.Contains(t, ts.log.String(), "worker start timed out")
}

// TestStartTimeoutWhileOthersStart: a worker whose start times out is
// killed, but a client waiting meanwhile is not turned away while another
// worker is still on its way: that one serves it. The first worker hangs
// (start timeout 4 s); the client comes at 2 s and has a second worker
// started for it, which takes 2.5 s: it is still starting when the first
// times out.
func TestStartTimeoutWhileOthersStart(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.worker-start-timeout=4s",
		"test.hang-first="+t.TempDir(), "test.init-delay=2500ms")
	time.Sleep(2 * time.Second)
	c := dial(t, ts.addr)
	_, out, _ := run(t, c, "echo", "served")
	require.Equal(t, "served\n", out)
	require.Contains(t, ts.log.String(), "worker start timed out")
}

// TestConstructorExitEndsTheCommand: a constructor that exits (a bad
// configuration, as real CLIs handle one) kills the workers that build
// it before they are ready; the workers started after that build in their
// client's command, which then ends as a plain run would: the
// constructor's message on stderr and its exit status. The pool does not
// spin meanwhile: lazy workers are ready at once and wait for a client.
func TestConstructorExitEndsTheCommand(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "test.crash-init=cannot open the database: disk on fire")
	for i := 0; i < 2; i++ {
		c := dial(t, ts.addr)
		var stdout, stderr strings.Builder
		code, err := c.RunCommand(context.Background(), []string{"echo", "hi"}, &client.RunOptions{Stdout: &stdout, Stderr: &stderr})
		require.NoError(t, err)
		require.Equal(t, 3, code)
		require.Equal(t, "cannot open the database: disk on fire\n", stderr.String())
		require.Empty(t, stdout.String())
		c.Close()
	}
	require.Contains(t, ts.log.String(), "starting workers that build the handler in their client's first command")
}

// TestRecycleByCount: a worker serves worker-reuse clients, then is
// replaced; the status counts it.
func TestRecycleByCount(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.worker-reuse=3", "cmdserver.worker-reuse-jitter=0")
	pids := map[int]int{}
	for i := 0; i < 9; i++ {
		c := dial(t, ts.addr)
		run(t, c, "echo")
		pids[c.Hello.PID]++
		c.Close()
		pid := c.Hello.PID
		waitFor(t, "worker back or gone", func() bool { return ts.isIdle(pid) || processGone(pid) })
	}
	for pid, n := range pids {
		require.LessOrEqual(t, n, 3, "worker %d served more than worker-reuse clients", pid)
	}
	require.GreaterOrEqual(t, len(pids), 3)
	waitFor(t, "recycling counted", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.pool.stats.recycled >= 2
	})
	require.GreaterOrEqual(t, status(t, ts).WorkersRecycled, int64(2))
}

// TestDoneSaysWorkerExits: a worker that exits after its client for
// another reason than recycling (here it serves one client) says so in
// its done message, so that the master does not count it as on its way
// back to the pool (holding back refills) until its socket closes. It is
// not counted as recycled.
func TestDoneSaysWorkerExits(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.worker-reuse=1")
	c := dial(t, ts.addr)
	run(t, c, "echo")
	pid := c.Hello.PID
	c.Close()
	waitFor(t, "worker gone", func() bool { return processGone(pid) })
	waitFor(t, "the worker's exit announced", func() bool {
		return strings.Contains(ts.log.String(), "worker exits after its client")
	})
	ts.mu.Lock()
	defer ts.mu.Unlock()
	require.Zero(t, ts.pool.stats.recycled)
}

// TestRecycleByRSS: a worker whose client left it over the RSS limit is
// replaced; one that stayed under it is reused.
func TestRecycleByRSS(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.worker-max-rss=100M")
	c := dial(t, ts.addr)
	run(t, c, "echo")
	small := c.Hello.PID
	c.Close()
	waitFor(t, "small worker back in the pool", func() bool { return ts.isIdle(small) })

	c = dial(t, ts.addr)
	run(t, c, "grow", "160")
	big := c.Hello.PID
	c.Close()
	waitFor(t, "big worker gone", func() bool { return processGone(big) })
	require.Contains(t, ts.log.String(), "RSS over cmdserver.worker-max-rss")
	require.GreaterOrEqual(t, status(t, ts).WorkersRecycled, int64(1))
}

// TestDescriptorExhaustion: a master under RLIMIT_NOFILE=40 with 100
// clients at once runs out of descriptors for new workers; it waits for
// some to free up instead of turning clients away, and serves everyone.
func TestDescriptorExhaustion(t *testing.T) {
	addr, logBuf, _ := startHelperServer(t, "UNIXFORK_TEST_NOFILE=40")

	manyClients(t, addr, 100, 120*time.Second, func(ctx context.Context, i int, c *client.Client) error {
		if _, err := c.RunCommand(ctx, []string{"sleep", "200ms"}, nil); err != nil {
			return err
		}
		return echoed(ctx, c, fmt.Sprintf("client %d", i))
	})
	require.Contains(t, logBuf.String(), "out of file descriptors", "the limit was never reached: the test proves nothing")
	require.NotContains(t, logBuf.String(), "keep exiting before they are ready")
}

// startHelperServer runs the test binary as a server (serveHelper) with
// extra environment, and stops it at the end of the test.
func startHelperServer(t *testing.T, env ...string) (addr string, log *testutil.SyncBuffer, cmd *exec.Cmd) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "uf")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr = filepath.Join(dir, "s")
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), serveHelperEnv+"="+addr), env...)
	log = &testutil.SyncBuffer{}
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "server log:\n%s", log.String())
	require.Equal(t, "ready\n", line)
	return addr, log, cmd
}

// TestDescriptorExhaustionRefusesWithReason: with no descriptor to start a
// worker and no worker left to free one, a waiting client is told the
// real reason; once descriptors are free again, clients are served.
func TestDescriptorExhaustionRefusesWithReason(t *testing.T) {
	addr, log, cmd := startHelperServer(t, "UNIXFORK_TEST_NOFILE=64", "UNIXFORK_TEST_HOG=1", "UNIXFORK_TEST_CONFIG=cmdserver.workers=0")
	reason := refusal(t, addr)
	require.Contains(t, reason, "too many open files")
	require.NotContains(t, reason, "keep exiting")

	require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
	waitFor(t, "descriptors released", func() bool { return strings.Contains(log.String(), "released descriptors") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()
	var out strings.Builder
	code, err := c.RunCommand(ctx, []string{"echo", "back"}, &client.RunOptions{Stdout: &out})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "back\n", out.String())
}

// TestStatusCountsWaitingClients: clients queued at max-clients are counted
// (asked of the kernel on Linux).
func TestStatusCountsWaitingClients(t *testing.T) {
	ts := startServer(t, "cmdserver.max-clients=1", "cmdserver.workers=0", "cmdserver.client-idle-timeout=0")
	held := dial(t, ts.addr)
	waitFor(t, "the client counted", func() bool { return ts.ActiveClients() == 1 })
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", ts.addr)
		require.NoError(t, err)
		defer c.Close()
	}
	want := 3
	if n, err := backlogLen(ts.backlog); err != nil {
		t.Logf("backlog length unknown (%d): %v", n, err)
		want = 1 // not countable here: "at least one"
	}
	st := ts.status()
	require.Equal(t, want, st.ClientsWaiting)
	require.Equal(t, 1, st.Busy)
	held.Close()
}

// TestBadPoolSettings: a bad value of a pool key stops the server at start
// with a message naming the key.
func TestBadPoolSettings(t *testing.T) {
	for _, opt := range []string{
		"cmdserver.client-idle-timeout=banana",
		"cmdserver.worker-start-timeout=1x",
		"cmdserver.min-spare-workers=two",
		"cmdserver.workers=lots",
		"cmdserver.worker-max-rss=huge",
		"cmdserver.worker-reuse-jitter=some",
	} {
		cfg := &protocol.Config{}
		require.NoError(t, cfg.Apply([]string{opt}))
		srv := &Server{Address: filepath.Join(t.TempDir(), "s"), Session: protocol.SessionOptions{Config: cfg}}
		err := srv.ListenAndServe(context.Background())
		require.Error(t, err, opt)
		key, _, _ := strings.Cut(opt, "=")
		require.Contains(t, err.Error(), key)
	}
}
