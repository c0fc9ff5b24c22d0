package unixfork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/clientraw"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

func TestHelloPIDsPerClient(t *testing.T) {
	ts := startServer(t, "cmdserver.worker-reuse=1")
	seen := map[int]bool{}
	var clients []*client.Client
	for i := 0; i < 4; i++ { // held open together: four workers at once
		c := dial(t, ts.addr)
		clients = append(clients, c)
		h := c.Hello
		require.NotEqual(t, os.Getpid(), h.PID, "hello pid is the master's")
		require.Equal(t, h.PID, h.PGID, "worker must lead its own process group")
		require.False(t, seen[h.PID], "two clients share worker %d", h.PID)
		seen[h.PID] = true
		_, out, _ := run(t, c, "pid")
		require.Equal(t, strconv.Itoa(h.PID)+"\n", out)
	}
	waitFor(t, "four clients counted", func() bool { return ts.ActiveClients() == 4 })
	for _, c := range clients {
		c.Close()
	}
	waitFor(t, "clients to end", func() bool { return ts.ActiveClients() == 0 })
	log := ts.log.String()
	for pid := range seen {
		require.Contains(t, log, fmt.Sprintf("forked worker process (pid=%d)", pid))
		waitFor(t, "worker exit", func() bool { return processGone(pid) })
	}
	waitFor(t, "exit log", func() bool {
		return strings.Contains(ts.log.String(), fmt.Sprintf("worker process exited (pid=%d)", h0(seen)))
	})
}

func h0(m map[int]bool) int {
	for k := range m {
		return k
	}
	return 0
}

func TestConcurrentClientsUnmixed(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=4")
	const clients, commands = 50, 20
	manyClients(t, ts.addr, clients, 45*time.Second, func(ctx context.Context, i int, c *client.Client) error {
		for j := range commands {
			if err := echoed(ctx, c, fmt.Sprintf("client %d command %d %s", i, j, strings.Repeat("x", j*50))); err != nil {
				return fmt.Errorf("command %d: %w", j, err)
			}
		}
		return nil
	})
}

// TestIsolation runs a command that changes cwd, environment, umask, fd 2,
// process title and a signal disposition, and checks that the next client
// sees none of it: with one client per worker, with reused workers, and
// at the default configuration (which reuses them).
func TestIsolation(t *testing.T) {
	for _, reuse := range []int{1, 5, 0} {
		name, opts := fmt.Sprintf("reuse=%d", reuse), []string{"cmdserver.workers=1", fmt.Sprintf("cmdserver.worker-reuse=%d", reuse)}
		if reuse == 0 {
			name, opts = "default", nil
		}
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, opts...)
			var baseline string
			pids := map[int]int{}
			for i := 0; i < 6; i++ {
				ts.waitIdle(t, 1)
				c := dial(t, ts.addr)
				pid := c.Hello.PID
				pids[pid]++
				_, before, _ := run(t, c, "state")
				if baseline == "" {
					baseline = before
					require.NotContains(t, baseline, "dirty")
				}
				require.Equal(t, baseline, before, "client %d saw a previous client's state", i)
				_, _, _ = run(t, c, "mutate")
				_, after, _ := run(t, c, "state")
				require.NotEqual(t, baseline, after, "mutate changed nothing: the test proves nothing")
				require.Contains(t, after, `var="dirty"`)
				require.Contains(t, after, "umask=0027")
				require.Contains(t, after, "comm=dirty")
				require.Contains(t, after, "hupIgnored=true")
				c.Close()
				waitFor(t, "client end", func() bool { return ts.ActiveClients() == 0 })
				// Let the worker come back to the pool, or exit.
				waitFor(t, "worker back or gone", func() bool { return ts.isIdle(pid) || processGone(pid) })
			}
			if reuse == 1 {
				require.Len(t, pids, 6, "a worker served two clients with reuse off")
			} else {
				require.Less(t, len(pids), 6, "no worker was reused: the reuse case proves nothing")
			}
		})
	}
}

func TestWorkerKilledMidCommand(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	started := make(chan struct{})
	type result struct {
		code int
		err  error
	}
	errc := make(chan result, 1)
	go func() {
		code, err := c.RunCommand(context.Background(), []string{"sleep", "30s"},
			&client.RunOptions{Stdout: signalWriter(started)})
		errc <- result{code, err}
	}()
	<-started
	require.NoError(t, unix.Kill(c.Hello.PID, unix.SIGKILL))
	// The master answers for the dead worker, with a shell's status for
	// a death by signal (handoff.go).
	res := <-errc
	require.NoError(t, res.err)
	require.Equal(t, 128+9, res.code)
	waitFor(t, "client slot freed", func() bool { return ts.ActiveClients() == 0 })
	waitFor(t, "exit log", func() bool {
		return strings.Contains(ts.log.String(), fmt.Sprintf("worker process exited (pid=%d)", c.Hello.PID))
	})
	c2 := dial(t, ts.addr)
	code, out, _ := run(t, c2, "echo", "still", "serving")
	require.Equal(t, 0, code)
	require.Equal(t, "still serving\n", out)
}

// signalWriter closes ch on the first write.
type signalWriterT struct {
	once sync.Once
	ch   chan struct{}
}

func signalWriter(ch chan struct{}) io.Writer { return &signalWriterT{ch: ch} }

func (w *signalWriterT) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}

func TestDisconnectCancelsCommand(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.RunCommand(ctx, []string{"sleep", "60s"}, &client.RunOptions{Stdout: signalWriter(started)})
		errc <- err
	}()
	<-started
	cancel() // closes the connection mid-command
	<-errc
	waitFor(t, "worker of a gone client to exit", func() bool { return processGone(c.Hello.PID) })
	require.Contains(t, ts.log.String(), "client disconnected; cancelling its command")
	waitFor(t, "client slot freed", func() bool { return ts.ActiveClients() == 0 })
}

func TestSessionErrorsStayWithTheirClient(t *testing.T) {
	ts := startServer(t)
	bystander := dial(t, ts.addr)
	c := dial(t, ts.addr)
	require.NoError(t, clientraw.Send(c, []byte("nosuchrequest\n")))
	ch, payload, _, err := clientraw.ReadFrame(c)
	require.NoError(t, err)
	require.Equal(t, byte('e'), ch)
	require.Equal(t, "abort: unknown command nosuchrequest\n", string(payload))
	_, _, _, err = clientraw.ReadFrame(c)
	require.ErrorIs(t, err, io.EOF)
	waitFor(t, "abort in the log", func() bool { return strings.Contains(ts.log.String(), "unknown command nosuchrequest") })
	code, out, errOut := run(t, bystander, "echo", "ok")
	require.Equal(t, 0, code)
	require.Equal(t, "ok\n", out)
	require.Empty(t, errOut)
}

func TestInitFailureReachesClient(t *testing.T) {
	ts := startServer(t, "test.fail-init=1", "cmdserver.workers=1")
	require.Equal(t, "abort: test handler refuses to start\n", refusal(t, ts.addr))
	waitFor(t, "the init error in the log", func() bool {
		return strings.Contains(ts.log.String(), "worker could not build its handler")
	})
}

func TestPrewarmRecentKeys(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1", "cmdserver.max-repo-cache=2", "cmdserver.worker-reuse=1")
	c := dial(t, ts.addr)
	run(t, c, "key", "/repo/a")
	run(t, c, "key", "/repo/b")
	run(t, c, "key", "/repo/c")
	c.Close()
	waitFor(t, "client end", func() bool { return ts.ActiveClients() == 0 })
	// The worker idle now may have started before the keys were known;
	// a worker started after them prepares the two most recent.
	var got string
	for i := 0; i < 4 && got == ""; i++ {
		ts.waitIdle(t, 1)
		c := dial(t, ts.addr)
		_, out, _ := run(t, c, "prewarmed")
		got = strings.TrimSpace(out)
		c.Close()
	}
	require.Equal(t, "/repo/c /repo/b", got)
}

func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=2")
	ts.waitIdle(t, 2)
	c := dial(t, ts.addr)
	started := make(chan struct{})
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := c.RunCommand(context.Background(), []string{"sleep", "1s"}, &client.RunOptions{Stdout: signalWriter(started)})
		res <- result{code, err}
	}()
	<-started
	ts.mu.Lock()
	var pids []int
	for p := range ts.procs {
		pids = append(pids, p.pid)
	}
	ts.mu.Unlock()
	require.NoError(t, ts.Shutdown(context.Background()))
	r := <-res
	require.NoError(t, r.err)
	require.Equal(t, 0, r.code, "the busy client's command was cut short")
	_, err := os.Lstat(ts.addr)
	require.ErrorIs(t, err, os.ErrNotExist, "socket file left behind")
	for _, pid := range pids {
		require.True(t, processGone(pid), "worker %d still there after Shutdown", pid)
	}
	_, err = net.Dial("unix", ts.addr)
	require.Error(t, err)
}

func TestAddressInUse(t *testing.T) {
	ts := startServer(t)
	s2 := &Server{Address: ts.addr}
	err := s2.ListenAndServe(context.Background())
	require.ErrorIs(t, err, ErrAddressInUse)
	require.Equal(t, ts.addr+": address in use", err.Error())
	// The first server still serves.
	c := dial(t, ts.addr)
	_, out, _ := run(t, c, "echo", "first")
	require.Equal(t, "first\n", out)
}

func TestStaleSocketReplacedAndMode(t *testing.T) {
	dir := t.TempDir()
	if len(dir) > 80 {
		dir, _ = os.MkdirTemp("/tmp", "uf")
		defer os.RemoveAll(dir)
	}
	addr := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	l.Close()               // a dead server's socket file
	old := syscall.Umask(0) // the socket must be 0600 whatever the umask
	defer syscall.Umask(old)
	ln, bound, err := listen(addr)
	require.NoError(t, err)
	defer ln.Close()
	fi, err := os.Lstat(addr)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket|0o600, fi.Mode())
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1, "temporary bind directory left behind")
	c, err := net.Dial("unix", addr)
	require.NoError(t, err)
	c.Close()
	require.NoError(t, bound.remove())
	_, err = os.Lstat(addr)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestListenErrors(t *testing.T) {
	_, _, err := listen("/nonexistent-dir-for-unixfork/s")
	require.EqualError(t, err, "cannot listen at /nonexistent-dir-for-unixfork/s: directory /nonexistent-dir-for-unixfork does not exist")
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o500))
		_, _, err = listen(filepath.Join(dir, "s"))
		require.ErrorContains(t, err, "is not writable")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	_, _, err = listen(f)
	require.ErrorContains(t, err, "not a socket")
}

// TestOtherUserRefused connects as uid 65534 from a helper process: with
// the socket's 0600 mode the connect itself fails; with the mode opened up
// the SO_PEERCRED check refuses the client.
func TestOtherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	ts := startServer(t)
	require.NoError(t, os.Chmod(filepath.Dir(ts.addr), 0o755))
	// The test binary's build directory is private to root: copy it
	// where uid 65534 can run it.
	binDir, err := os.MkdirTemp("", "uf-bin")
	require.NoError(t, err)
	defer os.RemoveAll(binDir)
	require.NoError(t, os.Chmod(binDir, 0o755))
	bin := filepath.Join(binDir, "dialer")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	dialAs := func() string {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), dialHelperEnv+"="+ts.addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	require.Contains(t, dialAs(), "permission denied")
	require.NoError(t, os.Chmod(ts.addr, 0o666))
	out := dialAs()
	require.Contains(t, out, "read: EOF")
	require.Regexp(t, `refused connection from another user: .*uid=65534`, ts.log.String())
	waitFor(t, "slot freed", func() bool { return ts.ActiveClients() == 0 })
	// The server's own user still gets in.
	c := dial(t, ts.addr)
	_, o, _ := run(t, c, "echo", "owner")
	require.Equal(t, "owner\n", o)
}

// TestWorkerGetsWorkerData: what a worker is for comes in its start-up
// message, typed by whoever set Server.WorkerData.
func TestWorkerGetsWorkerData(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	code, o, _ := run(t, c, "workerdata")
	require.Equal(t, 0, code)
	require.Equal(t, "data-of-the-master\n", o)
}

func TestWorkerRunByHand(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), "This process is a cmdsrv worker")
}

func TestLastActivity(t *testing.T) {
	ts := startServer(t)
	t0 := ts.LastActivity()
	require.False(t, t0.IsZero())
	time.Sleep(10 * time.Millisecond)
	c := dial(t, ts.addr)
	run(t, c, "echo")
	// The worker tells the master after the hello: the master's count may
	// lag the client by a moment.
	waitFor(t, "activity recorded", func() bool { return ts.LastActivity().After(t0) })
	require.True(t, errors.Is(ErrServerClosed, ErrServerClosed))
}

// TestShutdownWithClientWaitingForWorker: a client still waiting in the
// backlog for a worker when the server shuts down is told so at once.
func TestShutdownWithClientWaitingForWorker(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=0", "test.init-delay=2s")
	conn, err := net.Dial("unix", ts.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.Eventually(t, func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.pool != nil && ts.pool.starting() == 1
	}, 5*time.Second, 5*time.Millisecond, "a worker is started on demand for the client")
	require.NoError(t, ts.Shutdown(context.Background()))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ch, payload, _, err := wire.ReadFrame(conn, 0)
	require.NoError(t, err)
	require.Equal(t, byte('e'), ch)
	require.Contains(t, string(payload), "shutting down")
	require.Equal(t, 1, strings.Count(ts.log.String(), "forked worker process"), "log:\n%s", ts.log)
}

// TestMaxClientsQueuesInBacklog: beyond cmdserver.max-clients a client's
// connect succeeds but it waits in the listen backlog, with no worker
// started for it, until a served client leaves.
func TestMaxClientsQueuesInBacklog(t *testing.T) {
	// Idle clients are not closed for the third here: that has its own
	// test.
	ts := startServer(t, "cmdserver.max-clients=2", "cmdserver.workers=3", "cmdserver.client-idle-timeout=0")
	c1, c2 := dial(t, ts.addr), dial(t, ts.addr)
	waitFor(t, "two clients counted", func() bool { return ts.ActiveClients() == 2 })
	third := make(chan *client.Client, 1)
	go func() {
		c, err := client.Dial(context.Background(), ts.addr)
		if err != nil {
			t.Error(err)
			close(third)
			return
		}
		third <- c
	}()
	select {
	case <-third:
		t.Fatal("a third client was served beyond max-clients=2")
	case <-time.After(300 * time.Millisecond):
	}
	ts.mu.Lock()
	live := ts.pool.live()
	ts.mu.Unlock()
	require.Equal(t, 2, live, "no worker beyond the cap")
	c1.Close()
	c3 := <-third
	require.NotNil(t, c3)
	defer c3.Close()
	require.NotEqual(t, c2.Hello.PID, c3.Hello.PID)
	_, out, _ := run(t, c3, "echo", "third")
	require.Equal(t, "third\n", out)
	c2.Close()
}

// TestShutdownLetsANewSessionRunOneCommand: a client connected but not yet
// running a command when the server starts shutting down (chg sends its
// set-up requests first) still gets its command run; then its session
// ends.
func TestShutdownLetsANewSessionRunOneCommand(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1")
	c := dial(t, ts.addr)
	waitFor(t, "the client counted", func() bool { return ts.ActiveClients() == 1 })
	down := make(chan error, 1)
	go func() { down <- ts.Shutdown(context.Background()) }()
	waitFor(t, "shutdown begun", func() bool { return strings.Contains(ts.log.String(), "shutting down") })
	time.Sleep(100 * time.Millisecond) // the drain reaches the worker
	code, out, _ := run(t, c, "echo", "last")
	require.Equal(t, 0, code)
	require.Equal(t, "last\n", out)
	require.NoError(t, <-down)
	_, err := c.RunCommand(context.Background(), []string{"echo", "more"}, nil)
	require.Error(t, err, "the session ends after its one command")
}

// TestShutdownWhileBinding: a Shutdown that comes between the bind and the
// start of serving (here from Ready) still removes the socket file.
func TestShutdownWhileBinding(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "uf")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	addr := filepath.Join(dir, "s")
	s := &Server{Address: addr}
	s.Ready = func() {
		_, err := os.Lstat(addr)
		require.NoError(t, err, "bound before Ready")
		require.NoError(t, s.Shutdown(context.Background()))
	}
	require.ErrorIs(t, s.ListenAndServe(context.Background()), ErrServerClosed)
	_, err = os.Lstat(addr)
	require.ErrorIs(t, err, os.ErrNotExist, "socket file left behind")
}

// TestShutdownDrainsClientAcceptedByIdleWorker: an idle worker that has
// just taken a client, and not yet told the master, when the shutdown
// stops it, serves that client's command to its end (drained) rather than
// being killed with it 2 s later.
func TestShutdownDrainsClientAcceptedByIdleWorker(t *testing.T) {
	marks := t.TempDir()
	ts := startServer(t, "cmdserver.workers=1", "test.accepted-dir="+marks, "test.hello-delay=300ms")
	ts.waitIdle(t, 1)
	type result struct {
		code int
		out  string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, ts.addr)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		var out strings.Builder
		// Longer than the 2 s after which a stopped worker is killed.
		code, err := c.RunCommand(ctx, []string{"sleep", "2500ms"}, &client.RunOptions{Stdout: &out})
		res <- result{code, out.String(), err}
	}()
	waitFor(t, "the worker took the client", func() bool {
		ents, _ := os.ReadDir(marks)
		return len(ents) > 0
	})
	ts.mu.Lock()
	announced := ts.pool.active() > 0
	ts.mu.Unlock()
	require.False(t, announced, "the worker announced its client before the shutdown (test.hello-delay too short)")
	require.NoError(t, ts.Shutdown(context.Background()))
	r := <-res
	require.NoError(t, r.err, "log:\n%s", ts.log)
	require.Equal(t, 0, r.code)
	require.Equal(t, "sleeping\n", r.out)
}

// TestShutdownDeadlineHangsUpShells: at Shutdown's deadline a busy
// worker is terminated, not just killed: it first hangs up the shell it
// started in a process group of its own, so that nothing the client's
// command started keeps running (and writing to the client's
// descriptors) behind it.
func TestShutdownDeadlineHangsUpShells(t *testing.T) {
	ts := startServer(t, "cmdserver.workers=1")
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := dial(t, ts.addr)
	go func() {
		_, _ = c.RunCommand(context.Background(), []string{"system", "sleep 60 & echo $! > " + pidFile + "; wait"}, nil)
	}()
	var pid int
	waitFor(t, "the shell's background process", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	defer unix.Kill(pid, unix.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, ts.Shutdown(ctx), context.DeadlineExceeded)
	waitFor(t, "the shell's process gone", func() bool { return processGone(pid) })
}
