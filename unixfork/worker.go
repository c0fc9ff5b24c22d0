package unixfork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// workerEnv is the cookie that tells a re-executed process it is a worker;
// its value is Server.Mode. Worker.Serve removes it from the environment
// so that commands the worker runs do not inherit it.
const workerEnv = "CMDSRV_UNIXFORK_WORKER"

// controlFD is the worker's end of its socketpair to the master
// (exec.Cmd.ExtraFiles[0]).
const controlFD = 3

// WorkerMode reports whether this process was started by a Server as a
// worker, and with which Server.Mode.
func WorkerMode() (mode string, ok bool) {
	return os.LookupEnv(workerEnv)
}

// Worker is the worker side: it builds the Handler once, then serves the
// clients the master hands it, one at a time.
type Worker struct {
	// NewHandler builds the Handler (the warm state) once, before the
	// worker reports itself ready. Required.
	NewHandler func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error)
	// Extend, if set, customises each connection's session before Serve
	// (chg registers attachio, chdir, setenv... and the System/Pager hooks).
	Extend func(sess *protocol.Session, conn *net.UnixConn)
	// Logger receives the worker's events. nil: JSON lines on stderr,
	// which the master re-logs through its own Logger.
	Logger hclog.Logger
}

// notWorker is printed when Serve runs in a process no Server started,
// such as the binary run by hand with the cookie set.
const notWorker = "This process is a cmdsrv worker: it is started by `serve --cmdserver unix` or `chgunix`, not by hand.\n"

// Serve runs the worker until the master closes its end of the socketpair,
// ctx is cancelled, or the worker has served its share of clients. It
// returns the process exit status: 0, or the status of a session that
// ended in error (1 truncated input, 255 anything else).
//
// Serve owns the process: it calls setpgid(0,0), installs a SIGINT handler
// (an interrupt of the running command) and changes process-wide state
// between clients. Call it from main, nothing else running.
func (w *Worker) Serve(ctx context.Context) int {
	if _, ok := WorkerMode(); !ok {
		fmt.Fprint(os.Stderr, notWorker)
		return 1
	}
	os.Unsetenv(workerEnv)
	var st unix.Stat_t
	if err := unix.Fstat(controlFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		fmt.Fprint(os.Stderr, notWorker)
		return 1
	}
	unix.CloseOnExec(controlFD) // commands we run must not hold the master's socketpair
	f := os.NewFile(controlFD, "unixfork-control")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "unixfork worker: opening control socket: %v\n", err)
		return 1
	}
	ctl, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		fmt.Fprint(os.Stderr, notWorker)
		return 1
	}
	defer ctl.Close()
	// Our own process group, so that a client's kill(-pgid) (chg forwards
	// SIGINT and SIGHUP that way) reaches this worker and only it. The
	// master also starts us with Setpgid; this covers other starters.
	_ = unix.Setpgid(0, 0)

	init, _, err := recvMsg(ctl, 0)
	if err != nil || init.Type != msgInit {
		fmt.Fprintf(os.Stderr, "unixfork worker: reading init message: %v (got %q)\n", err, init.Type)
		return 1
	}
	log := w.Logger
	if log == nil {
		log = hclog.New(&hclog.LoggerOptions{
			Name:       "worker",
			Level:      hclog.LevelFromString(init.LogLevel),
			Output:     os.Stderr,
			JSONFormat: true,
		})
	}
	rw := &runningWorker{w: w, ctl: ctl, log: log, init: init}
	return rw.run(ctx)
}

// runningWorker is the state of Worker.Serve.
type runningWorker struct {
	w    *Worker
	ctl  *net.UnixConn
	log  hclog.Logger
	init controlMsg
	cfg  *protocol.Config
	h    protocol.Handler
	ints chan os.Signal
	// draining is set when the master asked this worker to end its
	// session after the running command (shutdown).
	draining bool
}

func (rw *runningWorker) run(ctx context.Context) int {
	rw.cfg = &protocol.Config{}
	initErr := rw.cfg.Apply(rw.init.Config)
	if rw.init.Dir != "" && initErr == nil {
		initErr = os.Chdir(rw.init.Dir)
	}
	state, err := snapshotState()
	if err != nil && initErr == nil {
		initErr = err
	}
	if state != nil {
		defer state.close()
	}
	if initErr == nil {
		rw.h, initErr = rw.w.NewHandler(rw.cfg, rw.log)
	}
	if initErr == nil {
		rw.prewarm(ctx)
	}
	reuse := 1
	if initErr == nil && protocol.IsReusable(rw.h) {
		n, err := rw.cfg.Int("cmdserver.worker-reuse", 1)
		if err != nil {
			rw.log.Warn("ignoring cmdserver.worker-reuse", "error", err)
		}
		reuse = max(n, 1)
	}
	rw.ints = make(chan os.Signal, 1)
	// Catching SIGPIPE makes a write to a client's closed pipe (a pager
	// or `| head` that quit early, on fds 0-2 after attachio) fail with
	// EPIPE instead of killing the worker: the command ends with an
	// error and the session its usual way. Nothing reads the channel.
	brokenPipes := make(chan os.Signal, 1)
	notifyInt := func() {
		signal.Notify(rw.ints, os.Interrupt)
		signal.Notify(brokenPipes, syscall.SIGPIPE)
	}
	notifyInt()
	defer signal.Stop(rw.ints)
	defer signal.Stop(brokenPipes)

	for served := 0; ; served++ {
		ready := controlMsg{Type: msgReady, PID: os.Getpid(), PGID: unix.Getpgrp()}
		if initErr != nil {
			ready.InitError = initErr.Error()
		}
		if err := sendMsg(rw.ctl, ready); err != nil {
			rw.log.Debug("master gone", "error", err)
			return 0
		}
		conn, err := rw.nextConn(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				rw.log.Error("waiting for a client", "error", err)
				return 1
			}
			return 0 // master closed our socketpair: shutdown or master gone
		}
		var status int
		if initErr != nil {
			writeLastResort(conn, initErr)
			status = 255
		} else {
			status = rw.serveClient(ctx, conn)
		}
		conn.Close()
		if err := sendMsg(rw.ctl, controlMsg{Type: msgDone, Status: status}); err != nil {
			rw.log.Debug("master gone", "error", err)
			return status
		}
		if status != 0 || served+1 >= reuse || ctx.Err() != nil || rw.draining {
			return status
		}
		if err := state.restore(notifyInt); err != nil {
			rw.log.Error("cannot restore process state; not reusing this worker", "error", err)
			return 0
		}
	}
}

// prewarm prepares the keys the master remembered, before going idle.
func (rw *runningWorker) prewarm(ctx context.Context) {
	pw, ok := rw.h.(protocol.Prewarmer)
	if !ok {
		return
	}
	for _, key := range rw.init.Prewarm {
		if err := pw.Prewarm(ctx, key); err != nil {
			rw.log.Warn("prewarm failed", "key", key, "error", err)
		}
	}
}

// nextConn waits for the master to hand over a client connection.
func (rw *runningWorker) nextConn(ctx context.Context) (*net.UnixConn, error) {
	stop := context.AfterFunc(ctx, func() { rw.ctl.Close() })
	defer stop()
	for {
		m, fds, err := recvMsg(rw.ctl, 1)
		if err != nil {
			return nil, err
		}
		if m.Type == msgDrain {
			continue // the session it was meant for has ended anyway
		}
		if m.Type != msgConn || len(fds) != 1 {
			closeFDs(fds)
			rw.log.Warn("unexpected control message", "type", m.Type, "fds", len(fds))
			continue
		}
		f := os.NewFile(uintptr(fds[0]), "client")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("opening client connection: %w", err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("client connection is a %T, not a unix socket", c)
		}
		return uc, nil
	}
}

// serveClient runs one session on conn and returns its exit status.
func (rw *runningWorker) serveClient(ctx context.Context, conn *net.UnixConn) int {
	fd, err := connFD(conn)
	if err != nil {
		writeLastResort(conn, err)
		return 255
	}
	for len(rw.ints) > 0 {
		<-rw.ints // an interrupt while idle is for no one
	}
	out := &countingWriter{w: conn}
	sess := &protocol.Session{
		Handler:      rw.h,
		Config:       rw.cfg,
		Logger:       rw.log,
		Stderr:       os.Stderr,
		Traceback:    rw.init.Traceback,
		Disconnected: protocol.PollHangup(fd),
		OnKey: func(key string) {
			if err := sendMsg(rw.ctl, controlMsg{Type: msgKey, Key: key}); err != nil {
				rw.log.Debug("reporting key", "error", err)
			}
		},
	}
	if rw.cfg.Get("cmdserver.log", "") == "-" {
		// cmdserver.log=-: while a client is connected, its session's
		// events go to that client's 'd' channel.
		sess.Logger = hclog.New(&hclog.LoggerOptions{
			Name:   "session",
			Level:  rw.log.GetLevel(),
			Output: &debugChannel{sess: sess},
		})
	}
	if rw.w.Extend != nil {
		rw.w.Extend(sess, conn)
	}
	drain := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		rw.watchControl(drain)
	}()
	defer func() {
		// Stop the watcher: between clients nextConn reads the socketpair.
		_ = rw.ctl.SetReadDeadline(time.Now())
		<-watched
		_ = rw.ctl.SetReadDeadline(time.Time{})
	}()
	done := make(chan error, 1)
	go func() { done <- sess.Serve(ctx, conn, out) }()
	var poll <-chan time.Time
	for {
		select {
		case err := <-done:
			if err != nil && out.n == 0 {
				// Failed before its hello: the client would see nothing.
				writeLastResort(conn, err)
			}
			return protocol.ExitStatus(err)
		case <-rw.ints:
			if !sess.Interrupt() {
				rw.log.Debug("SIGINT between commands ignored")
			}
		case <-drain:
			drain = nil
			rw.draining = true
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			poll = t.C
			rw.endWhenIdle(sess, conn)
		case <-poll:
			rw.endWhenIdle(sess, conn)
		}
	}
}

// endWhenIdle ends a draining session once no command runs: the session
// then reads end of input between requests, a clean end, while a result
// being written still goes out.
func (rw *runningWorker) endWhenIdle(sess *protocol.Session, conn *net.UnixConn) {
	if !sess.Busy() {
		_ = conn.CloseRead()
	}
}

// watchControl reads the socketpair while a client is served and closes
// drain when the master asks for it. It returns when the read deadline is
// set or the master is gone.
func (rw *runningWorker) watchControl(drain chan<- struct{}) {
	closed := false
	for {
		m, fds, err := recvMsg(rw.ctl, 1)
		if err != nil {
			return
		}
		closeFDs(fds)
		if m.Type == msgDrain && !closed {
			closed = true
			close(drain)
		}
	}
}

// writeLastResort sends err on the 'e' channel of a client that got
// nothing else, so that it sees why its connection closes.
func writeLastResort(conn *net.UnixConn, err error) {
	fw := protocol.NewFrameWriter(conn)
	_ = fw.WriteFrame(protocol.ChannelError, []byte("abort: "+err.Error()+"\n"))
}

func connFD(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("client connection: %w", err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, fmt.Errorf("client connection: %w", err)
	}
	return fd, nil
}

// countingWriter counts the bytes written to the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// debugChannel writes log entries as 'd' frames of its session, or to
// stderr (the master's log) before the session has a connection.
type debugChannel struct {
	sess *protocol.Session
}

func (d *debugChannel) Write(p []byte) (int, error) {
	fw := d.sess.Frames()
	if fw == nil {
		return os.Stderr.Write(p)
	}
	if err := fw.WriteFrame(protocol.ChannelDebug, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
