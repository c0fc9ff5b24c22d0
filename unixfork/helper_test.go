package unixfork

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// The test binary doubles as the worker (re-executed by the Server under
// test, recognised by IsWorker) and as a helper that dials as another
// user (dialHelperEnv).
const dialHelperEnv = "UNIXFORK_TEST_DIAL"

func TestMain(m *testing.M) {
	if IsWorker() {
		w := &Worker{NewHandler: newTestHandler, extension: testExtension}
		os.Exit(w.Serve(context.Background()))
	}
	if addr := os.Getenv(dialHelperEnv); addr != "" {
		os.Exit(dialHelper(addr))
	}
	if addr := os.Getenv(serveHelperEnv); addr != "" {
		os.Exit(serveHelper(addr))
	}
	if addr := os.Getenv(orphanHelperEnv); addr != "" {
		os.Exit(orphanHelper(addr))
	}
	// Fails the package when a test leaves a goroutine behind. The
	// worker forker (parentdeath_linux.go) lives as long as the process by
	// design: its thread's end would kill the workers.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/cmdsrv/cmdsrv/unixfork.forker"))
}

// testExtension answers the command "workerdata" with the master's
// WorkerData, as the worker received it in its start-up message.
func testExtension(data []byte) (func(*session.Session, *net.UnixConn), error) {
	return func(sess *session.Session, _ *net.UnixConn) {
		// test.accepted-dir: a file named for this worker's pid marks that
		// it took a client; test.hello-delay then holds its hello back.
		if dir := sess.Options.Config.Get("test.accepted-dir", ""); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())), nil, 0o600)
		}
		if d, err := time.ParseDuration(sess.Options.Config.Get("test.hello-delay", "0s")); err == nil {
			time.Sleep(d)
		}
		h := sess.Handler
		sess.Handler = extendedHandler{h: h, f: func(ctx context.Context, req *protocol.Request) int {
			if len(req.Args) == 1 && req.Args[0] == "workerdata" {
				fmt.Fprintf(req.Stdout, "%s\n", data)
				return 0
			}
			return h.ServeCommand(ctx, req)
		}}
	}, nil
}

// extendedHandler is testExtension's Handler: f, with h's choice of the
// client's process state kept.
type extendedHandler struct {
	h protocol.Handler
	f protocol.HandlerFunc
}

func (e extendedHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	return e.f(ctx, req)
}

func (e extendedHandler) ClientProcessFor(args []string) bool {
	if f, ok := e.h.(session.ClientProcessFor); ok {
		return f.ClientProcessFor(args)
	}
	return protocol.WantsClientProcess(e.h)
}

// dialHelper connects to addr and prints what happened: "hello PID" or
// "dial: ERR" or "read: ERR".
func dialHelper(addr string) int {
	c, err := net.Dial("unix", addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 0
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ch, payload, _, err := wire.ReadFrame(c, 0)
	if err != nil {
		fmt.Println("read:", err)
		return 0
	}
	fmt.Printf("frame %c %q\n", ch, payload)
	return 0
}

// testHandler is a Handler whose commands change process-wide state, to
// check that no client sees what another did.
type testHandler struct {
	prewarmed []string
	prepares  int // calls of Prepare
}

// Prepare counts its calls (protocol.Preparer).
func (h *testHandler) Prepare(context.Context) error {
	h.prepares++
	return nil
}

func newTestHandler(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
	if cfg.Get("test.fail-init", "") != "" {
		return nil, errors.New("test handler refuses to start")
	}
	if msg := cfg.Get("test.crash-init", ""); msg != "" {
		// A constructor that kills its process: the master must say why.
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(3)
	}
	if dir := cfg.Get("test.hang-first", ""); dir != "" {
		// The first worker to get here hangs; the others start normally.
		if f, err := os.OpenFile(filepath.Join(dir, "hung"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			f.Close()
			time.Sleep(time.Hour)
		}
	}
	if d, err := time.ParseDuration(cfg.Get("test.init-delay", "0s")); err == nil {
		time.Sleep(d)
	}
	if cfg.Get("test.client-process", "") != "" {
		return &lentTestHandler{&testHandler{}}, nil
	}
	return &testHandler{}, nil
}

// lentTestHandler is testHandler with the client's process state lent to
// its commands (protocol.ClientProcess): fds 1 and 2 are relayed pipes.
type lentTestHandler struct{ *testHandler }

func (*lentTestHandler) ClientProcess() bool { return true }

func (h *testHandler) Reusable() bool { return true }

func (h *testHandler) Prewarm(ctx context.Context, key string) error {
	h.prewarmed = append(h.prewarmed, key)
	return nil
}

func (h *testHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if len(req.Args) == 0 {
		return 255
	}
	args := req.Args[1:]
	switch req.Args[0] {
	case "echo":
		fmt.Fprintln(req.Stdout, strings.Join(args, " "))
	case "pid":
		fmt.Fprintln(req.Stdout, os.Getpid())
	case "state":
		fmt.Fprintln(req.Stdout, processState())
	case "mutate":
		// Everything a careless command could change for the whole process.
		_ = os.Chdir("/")
		_ = os.Setenv("UNIXFORK_TEST_VAR", "dirty")
		_ = os.Unsetenv("HOME")
		unix.Umask(0o027)
		_ = os.WriteFile("/proc/self/comm", []byte("dirty"), 0)
		if null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
			_ = unix.Dup2(int(null.Fd()), 2)
			null.Close()
		}
		signal.Ignore(syscall.SIGHUP)
	case "sleep":
		d, _ := time.ParseDuration(args[0])
		fmt.Fprintln(req.Stdout, "sleeping")
		select {
		case <-time.After(d):
		case <-ctx.Done():
			fmt.Fprintln(req.Stderr, "interrupted!")
			return 255
		}
	case "grow":
		// Resident memory a reused worker keeps: for the RSS limit.
		n, _ := strconv.Atoi(args[0])
		grown = make([]byte, n<<20)
		for i := range grown {
			grown[i] = 1
		}
	case "system":
		// A shell in a process group of its own, as UI.System runs it.
		code, err := session.RunShell(ctx, req, args[0])
		if err != nil {
			fmt.Fprintln(req.Stderr, err)
		}
		return code
	case "key":
		req.UseKey(args[0])
	case "prepares":
		fmt.Fprintln(req.Stdout, h.prepares)
	case "prewarmed":
		fmt.Fprintln(req.Stdout, strings.Join(h.prewarmed, " "))
	case "fail":
		fmt.Fprintln(req.Stderr, "failing as asked")
		return 3
	case "exit":
		// The worker itself ends: the master answers for it.
		code, _ := strconv.Atoi(args[0])
		fmt.Fprintln(req.Stdout, "leaving")
		os.Exit(code)
	case "gopanic":
		fmt.Fprintln(req.Stdout, "panicking")
		go panic("in a goroutine")
		select {}
	case "fdexit":
		// N bytes to fd 1 and a line to fd 2, then exit 4: under
		// test.client-process, all of it must reach the client.
		n, _ := strconv.Atoi(args[0])
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		_, _ = os.Stdout.Write(b)
		fmt.Fprintln(os.Stderr, "to fd 2")
		os.Exit(4)
	default:
		fmt.Fprintf(req.Stderr, "unknown test command %q\n", req.Args[0])
		return 255
	}
	return 0
}

// grown holds what "grow" allocated, so that it stays resident.
var grown []byte

// processState describes what mutate changes.
func processState() string {
	wd, _ := os.Getwd()
	m := unix.Umask(0)
	unix.Umask(m)
	comm, _ := os.ReadFile("/proc/self/comm")
	fd2, _ := os.Readlink("/proc/self/fd/2")
	hup := signal.Ignored(syscall.SIGHUP)
	return fmt.Sprintf("cwd=%s var=%q home=%q umask=%04o comm=%s fd2=%s hupIgnored=%v",
		wd, os.Getenv("UNIXFORK_TEST_VAR"), os.Getenv("HOME"), m, strings.TrimSpace(string(comm)),
		strings.Split(fd2, ":")[0], hup)
}

// testServer is a Server running in this process with test-binary workers.
type testServer struct {
	*Server
	addr string
	log  *testutil.SyncBuffer
	errc chan error
}

// startServer starts a Server with the given config options and stops it
// at the end of the test, checking that it shut down cleanly.
func startServer(t testing.TB, opts ...string) *testServer {
	t.Helper()
	cfg := &protocol.Config{}
	require.NoError(t, cfg.Apply(opts))
	dir, err := os.MkdirTemp("/tmp", "uf")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	ts := &testServer{addr: filepath.Join(dir, "s"), log: &testutil.SyncBuffer{}, errc: make(chan error, 1)}
	ready := make(chan struct{})
	ts.Server = &Server{
		Address:    ts.addr,
		Session:    protocol.SessionOptions{Config: cfg},
		Logger:     hclog.New(&hclog.LoggerOptions{Output: ts.log, Level: hclog.Debug}),
		WorkerData: []byte("data-of-the-master"),
		Ready:      func() { close(ready) },
	}
	go func() { ts.errc <- ts.ListenAndServe(context.Background()) }()
	select {
	case <-ready:
	case err := <-ts.errc:
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v\nlog:\n%s", err, ts.log)
	}
	if err := <-ts.errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe returned %v", err)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", ts.log)
	}
}

// waitIdle waits until n workers are idle.
func (ts *testServer) waitIdle(t testing.TB, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d idle workers", n), func() bool { return ts.idleWorkers() >= n })
}

// isIdle reports whether worker pid is in the pool.
func (ts *testServer) isIdle(pid int) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range ts.pool.idle {
		if p.pid == pid {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t testing.TB, addr string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// manyClients has n clients connect to addr at once, each on its own
// connection, and has each run f within timeout; every error fails t.
func manyClients(t testing.TB, addr string, n int, timeout time.Duration, f func(ctx context.Context, i int, c *client.Client) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := client.Dial(ctx, addr)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer c.Close()
			if err := f(ctx, i, c); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// echoed runs "echo want" on c and checks that exactly want came back on
// stdout, and nothing on stderr.
func echoed(ctx context.Context, c *client.Client, want string) error {
	var out, errb strings.Builder
	code, err := c.RunCommand(ctx, []string{"echo", want}, &client.RunOptions{Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 || out.String() != want+"\n" || errb.Len() > 0 {
		return fmt.Errorf("echo: code %d err %v out %q stderr %q", code, err, out.String(), errb.String())
	}
	return nil
}

// refusal connects to addr and returns its first frame, which must be on
// 'e' (the reason the server gives for not serving).
func refusal(t testing.TB, addr string) string {
	t.Helper()
	conn, err := net.Dial("unix", addr)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	ch, payload, _, err := wire.ReadFrame(conn, 0)
	require.NoError(t, err)
	require.Equal(t, byte('e'), ch, "first frame %q", payload)
	return string(payload)
}

func run(t testing.TB, c *client.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, err := c.RunCommand(ctx, args, &client.RunOptions{Stdout: &out, Stderr: &errb})
	require.NoError(t, err, "runcommand %q (stderr %q)", args, errb.String())
	return code, out.String(), errb.String()
}

// processGone reports whether pid no longer exists: exited and reaped
// (a zombie still answers kill 0).
func processGone(pid int) bool {
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}
