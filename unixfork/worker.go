package unixfork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/internal/procstate"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/internal/workerext"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// workerEnv is the cookie that tells a re-executed process it is a worker
// (value "1"); what kind of worker it is comes in its init message.
// Worker.Serve removes it from the environment so that commands the worker
// runs do not inherit it.
const workerEnv = "CMDSRV_UNIXFORK_WORKER"

// controlFD is the worker's end of its socketpair to the master
// (exec.Cmd.ExtraFiles[0]); listenFD is its copy of the listening socket
// (ExtraFiles[1]).
const (
	controlFD = 3
	listenFD  = 4
)

// IsWorker reports whether this process was started by a Server as a
// worker.
func IsWorker() bool {
	_, ok := os.LookupEnv(workerEnv)
	return ok
}

// Worker is the worker side: it builds the Handler once, then serves the
// clients the master hands it, one at a time.
type Worker struct {
	// NewHandler builds the Handler (the warm state) once, before the
	// worker reports itself ready. Required.
	NewHandler func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error)
	// Logger receives the worker's events. nil: JSON lines on stderr,
	// which the master re-logs through its own Logger.
	Logger hclog.Logger

	// extension decodes the master's Server.WorkerData at start-up into
	// what customises each connection's session; nil: the decoder
	// registered in package workerext (chg's, when the program links
	// chg in).
	extension workerext.Decoder

	// SignalGrace is how long a command has, after SIGINT (a client's
	// Ctrl-C) or SIGTERM, to return on its cancelled context before the
	// worker ends by that signal, as a plain program would
	// (cmdsignal.go). 0: DefaultSignalGrace; negative: never forced.
	SignalGrace time.Duration
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
	if !IsWorker() {
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
	ln, err := inheritedListener()
	if err != nil {
		fmt.Fprintf(os.Stderr, "unixfork worker: %v\n", err)
		return 1
	}
	defer ln.Close()
	// Our own process group, so that a client's kill(-pgid) (chg forwards
	// SIGINT and SIGHUP that way) reaches this worker and only it. The
	// master also starts us with Setpgid; this covers other starters.
	_ = unix.Setpgid(0, 0)

	init, err := recvMsg(ctl, make([]byte, maxControlMsg))
	if err != nil || init.Type != msgInit {
		fmt.Fprintf(os.Stderr, "unixfork worker: reading init message: %v (got %q)\n", err, init.Type)
		return 1
	}
	log := w.Logger
	if log == nil {
		log = hclog.New(&hclog.LoggerOptions{
			Name:       "worker",
			Level:      hclog.LevelFromString(init.LogLevel),
			Output:     logOutput(),
			JSONFormat: true,
		})
	}
	rw := &runningWorker{w: w, ctl: ctl, ln: ln, log: log, init: init, drains: make(chan struct{}, 1), statusReplies: make(chan controlMsg, 1)}
	thisWorker.Store(rw)
	return rw.run(ctx)
}

// thisWorker is the worker this process runs, for RequestHandOver.
var thisWorker atomic.Pointer[runningWorker]

// ErrNotWorker is returned by RequestHandOver outside a worker.
var ErrNotWorker = errors.New("unixfork: not a worker process")

// RequestHandOver, in a worker, asks the master to hand over to the
// current build of its binary (Server.HandOver) and waits until the
// master has gone (its end of the control socket closes as it executes
// the new binary), at most timeout. A chg worker whose validate finds
// the binary changed calls it before telling its client to reconnect.
// It returns an error when the master cannot hand over (the new binary
// failed its probe) or did not within timeout.
func RequestHandOver(reason string, timeout time.Duration) error {
	rw := thisWorker.Load()
	if rw == nil || rw.ctlGone == nil {
		return ErrNotWorker
	}
	if rw.masterLeft() {
		return nil // it has handed over already (or died: the reconnect finds out)
	}
	select {
	case <-rw.handOverFails: // an earlier request's answer, come late
	default:
	}
	if err := sendMsg(rw.ctl, controlMsg{Type: msgHandOver, Key: reason}); err != nil {
		if rw.masterLeft() || errors.Is(err, syscall.EPIPE) {
			return nil
		}
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-rw.ctlGone:
		return nil
	case why := <-rw.handOverFails:
		return fmt.Errorf("the master cannot hand over: %s", why)
	case <-t.C:
		return fmt.Errorf("the master did not hand over within %s", timeout)
	}
}

// logOutput is where the worker's own log goes: a copy of fd 2 (the pipe
// to the master) taken at start, because chg's attachio later points fd 2
// at the client's stderr, where log lines do not belong.
func logOutput() io.Writer {
	fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return os.Stderr
	}
	return os.NewFile(uintptr(fd), "worker-log")
}

// inheritedListener opens the listening socket the master passed as fd 4.
func inheritedListener() (*net.UnixListener, error) {
	f := os.NewFile(listenFD, "unixfork-listener")
	l, err := net.FileListener(f) // a close-on-exec duplicate
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("opening the listening socket: %w", err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("listening socket is a %T, not a unix socket", l)
	}
	ul.SetUnlinkOnClose(false) // the name belongs to the master
	return ul, nil
}

// runningWorker is the state of Worker.Serve.
type runningWorker struct {
	w    *Worker
	ctl  *net.UnixConn
	ln   *net.UnixListener
	log  hclog.Logger
	init controlMsg
	// opts are the server's session options (Config applied), the same
	// for every session but Dir (see dir); set are the worker settings.
	opts protocol.SessionOptions
	set  workerSettings
	h    protocol.Handler
	ints chan os.Signal
	// drains receives the master's request to end the session after the
	// running command (shutdown); ctlGone is closed when the master has
	// closed its end of the socketpair.
	drains  chan struct{}
	ctlGone chan struct{}
	// handOverFails receives why a hand-over the worker asked for
	// cannot happen (RequestHandOver).
	handOverFails chan string
	// draining is set once a drain has been asked for.
	draining atomic.Bool
	// dir is the working directory sessions start in.
	dir string
	// extend is what the worker's extension made of the master's
	// WorkerData.
	extend workerext.Extend
	// idleAfter is cmdserver.client-idle-timeout; client is the current
	// client's connection (nil between clients), for the master's evict.
	idleAfter time.Duration
	client    atomic.Pointer[trackedConn]
	// statusReplies receives the master's answers to status requests.
	statusReplies chan controlMsg
	// warm checks the Handler's declared dependencies before each
	// command and rebuilds it when one changed (see newWarm).
	warm *session.Warm
	// depsSent and depsGen are the dependency set last reported to the
	// master and its Gen then (reportDeps).
	depsSent *fresh.Set
	depsGen  int
	// builtSent: a lazy worker told the master its Handler was built.
	builtSent bool
	// sigSess and sigCommand are the command last signalled (its
	// session, and the session's CommandsDone then): a second signal to
	// it ends the worker at once. Guarded by sigMu.
	sigMu      sync.Mutex
	sigSess    *session.Session
	sigCommand int
	// page is the client page shared with the master (handoff.go); nil
	// if it could not be made: the worker's death then loses its
	// client's status, as it did before.
	page *clientPage
}

// handler is what sessions run: rw.h through its Warm.
func (rw *runningWorker) handler() protocol.Handler {
	if rw.warm == nil {
		return rw.h // it failed to build: the session reports that
	}
	return rw.warm.Handler()
}

// newWarm keeps rw.h fresh: a command that finds a declared dependency
// changed runs on a Handler built again, here, and the master is told
// (msgStale) so that its pool can replace the workers built from the old
// state.
func (rw *runningWorker) newWarm() *session.Warm {
	return session.NewWarm(rw.h, rw.build, rw.log, rw.reportStale)
}

// build builds the Handler again (or, in a lazy worker, for the first
// time: the master is then told that the constructor works again).
func (rw *runningWorker) build() (protocol.Handler, error) {
	h, err := rw.w.NewHandler(rw.opts.Config, rw.log)
	if err == nil && rw.init.Lazy && !rw.builtSent {
		rw.builtSent = true
		if err := sendMsg(rw.ctl, controlMsg{Type: msgBuilt}); err != nil {
			rw.log.Debug("reporting the handler built", "error", err)
		}
	}
	return h, err
}

func (rw *runningWorker) reportStale(c fresh.Change) {
	if err := sendMsg(rw.ctl, controlMsg{Type: msgStale, Key: c.String()}); err != nil {
		rw.log.Debug("reporting stale state", "error", err)
	}
}

// reportDeps tells the master the Handler's dependencies when they grew
// since the last report (a rebuild, or a Request.UseKey that declared
// some), for it to watch them (refresh.go).
func (rw *runningWorker) reportDeps() {
	if rw.warm == nil {
		return
	}
	set := rw.warm.Deps()
	if set == nil || (set == rw.depsSent && set.Gen() == rw.depsGen) {
		return
	}
	deps, gen := set.Deps()
	for _, m := range depsMessages(deps) {
		if err := sendMsg(rw.ctl, m); err != nil {
			rw.log.Debug("reporting dependencies", "error", err)
			return
		}
	}
	rw.depsSent, rw.depsGen = set, gen
}

func (rw *runningWorker) run(ctx context.Context) int {
	opts, set, data, initErr := decodeInit(rw.init)
	rw.opts, rw.set, rw.idleAfter = opts, set, set.ClientIdle
	if rw.opts.Config == nil {
		rw.opts.Config = &protocol.Config{}
	}
	if rw.opts.Dir != "" && initErr == nil {
		initErr = os.Chdir(rw.opts.Dir)
	}
	state, err := snapshotState()
	if err != nil && initErr == nil {
		initErr = err
	}
	if state != nil {
		defer state.close()
		// Every client starts where the worker started (restore returns
		// there between clients): no getcwd on the connect path.
		rw.dir = state.dir
	}
	if initErr == nil {
		decode := rw.w.extension
		if decode == nil {
			decode = workerext.Decode
		}
		rw.extend, initErr = decode(data)
	}
	lazy := initErr == nil && rw.init.Lazy
	if lazy {
		// A worker of this pool died in its constructor: this one builds
		// in its client's first command, where an os.Exit, a log.Fatal or
		// a panic of the constructor ends that command with its status
		// and output, as in a plain run.
		rw.warm = session.NewLazyWarm(rw.build, rw.log, rw.reportStale)
	}
	if initErr == nil && !lazy {
		rw.h, initErr = rw.w.NewHandler(rw.opts.Config, rw.log)
	}
	if initErr == nil && !lazy {
		rw.warm = rw.newWarm()
	}
	if initErr == nil && !lazy {
		rw.prewarm(ctx)
		if rw.init.Rehearse {
			if err := rehearse(ctx, rw.h, rw.opts.Config); err != nil {
				rw.log.Debug("rehearsal failed; the first client pays for a cold start", "error", err)
			}
		}
		if p, ok := rw.h.(protocol.Preparer); ok {
			if err := p.Prepare(ctx); err != nil {
				rw.log.Warn("preparing for a client failed; serving it unprepared", "error", err)
			}
		}
	}
	reuse := 1
	if initErr == nil && session.IsReusable(rw.h) {
		reuse = rw.reuseCount()
	}
	maxRSS := rw.set.MaxRSS
	rw.ints = make(chan os.Signal, 1)
	// Catching SIGPIPE makes a write to a client's closed pipe (a pager
	// or `| head` that quit early, on fds 0-2 after attachio) fail with
	// EPIPE instead of killing the worker: the command ends with an
	// error and the session its usual way. Nothing reads the channel.
	brokenPipes := make(chan os.Signal, 1)
	// SIGTERM (the master's, at its shutdown deadline) ends the worker
	// as it did, after hanging up the shells it started in groups of
	// their own, which a signal to the worker's group does not reach.
	terms := make(chan os.Signal, 1)
	notifyInt := func() {
		signal.Notify(rw.ints, os.Interrupt)
		signal.Notify(brokenPipes, syscall.SIGPIPE)
		signal.Notify(terms, syscall.SIGTERM)
	}
	notifyInt()
	defer signal.Stop(rw.ints)
	defer signal.Stop(brokenPipes)
	defer signal.Stop(terms)
	go func() {
		for range terms {
			// During a command: the command's signal (a client's
			// `kill`, chg forwards it), with its grace.
			if tc := rw.client.Load(); tc != nil && tc.sess != nil && rw.signalCommand(tc.sess, syscall.SIGTERM) {
				continue
			}
			wire.HangUpShells(shellHangupGrace)
			signal.Reset(syscall.SIGTERM)
			_ = unix.Kill(os.Getpid(), unix.SIGTERM)
			return
		}
	}()
	// However else the worker ends, no shell of its outlives it (a
	// client's command is over by then; what is left are processes that
	// would write to a client's descriptors behind its back). The master
	// learns of each shell's group, for the end this process cannot
	// catch: SIGKILL.
	defer wire.HangUpShells(shellHangupGrace)
	wire.WatchShells(func(pgid int, running bool) {
		typ := msgShellEnd
		if running {
			typ = msgShell
		}
		if err := sendMsg(rw.ctl, controlMsg{Type: typ, PGID: pgid}); err != nil {
			rw.log.Debug("reporting a shell's process group", "error", err)
		}
	})
	if rw.page, err = newClientPage(); err != nil {
		rw.log.Warn("an exit during a command will end its client's connection without its status", "error", err)
	} else {
		procstate.OnRelay = rw.handRelay
	}
	rw.ctlGone = make(chan struct{})
	rw.handOverFails = make(chan string, 1)
	go rw.readControl()
	// Stop accepting when the master closes our socketpair (shutdown, or
	// the master died) or ctx ends.
	stopAccepting := context.AfterFunc(ctx, func() { rw.ln.Close() })
	defer stopAccepting()
	go func() {
		<-rw.ctlGone
		rw.ln.Close()
	}()

	for served := 0; ; served++ {
		ready := controlMsg{Type: msgReady, PID: os.Getpid(), PGID: unix.Getpgrp()}
		if initErr != nil {
			ready.InitError = initErr.Error()
		}
		rw.reportDeps()
		if err := sendMsg(rw.ctl, ready); err != nil {
			rw.log.Debug("master gone", "error", err)
			return 0
		}
		conn, err := rw.accept()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				rw.log.Error("waiting for a client", "error", err)
				return 1
			}
			return 0 // master closed our socketpair: shutdown or master gone
		}
		var status int
		announced := false
		if initErr != nil {
			writeLastResort(conn, initErr)
			status = 255
		} else {
			status, announced = rw.serveClient(ctx, conn)
		}
		conn.Close()
		if !announced {
			rw.announce(nil) // "done" must follow "accepted"
		}
		done := controlMsg{Type: msgDone, Status: status}
		// Recycle: a worker that served its share, or grew past the RSS
		// limit, makes room for a fresh one. Any other worker that exits
		// now says so too ("exit"): the master must not count it as on
		// its way back to the pool until its socket closes.
		stopping := ctx.Err() != nil || rw.draining.Load() || rw.masterLeft()
		switch {
		case status == 0 && !stopping && reuse > 1 && served+1 >= reuse:
			done.Recycle = recycleCount
		case status != 0 || stopping || served+1 >= reuse:
			done.Recycle = recycleExit
		default:
			if rss, ok := currentRSS(); ok && maxRSS > 0 && rss > maxRSS {
				rw.log.Info("recycling worker: RSS over cmdserver.worker-max-rss", "rss", rss, "limit", maxRSS)
				done.Recycle = recycleRSS
			}
		}
		if err := sendMsg(rw.ctl, done); err != nil {
			rw.log.Debug("master gone", "error", err)
			return status
		}
		if done.Recycle != "" || rw.draining.Load() {
			return status
		}
		if err := state.restore(notifyInt); err != nil {
			rw.log.Error("cannot restore process state; not reusing this worker", "error", err)
			return 0
		}
	}
}

// shellHangupGrace is how long the shells' processes have between
// SIGHUP and SIGKILL when the worker ends; within the master's grace
// between its SIGTERM and SIGKILL (shutdownKillGrace).
const shellHangupGrace = 500 * time.Millisecond

// masterLeft reports whether the master has closed its side of the
// socketpair: it stopped this worker (pool shrink, shutdown) or died.
func (rw *runningWorker) masterLeft() bool {
	select {
	case <-rw.ctlGone:
		return true
	default:
		return false
	}
}

// Defaults of the worker-side settings.
const (
	// DefaultWorkerReuse is cmdserver.worker-reuse: clients one worker of
	// a Reusable Handler serves before it is replaced.
	DefaultWorkerReuse = 250
	// DefaultWorkerReuseJitter is cmdserver.worker-reuse-jitter: each
	// worker serves up to this many clients more, at random, so that
	// workers started together do not all recycle together.
	DefaultWorkerReuseJitter = 50
	// DefaultWorkerMaxRSS is cmdserver.worker-max-rss: a reused worker
	// whose resident memory passes it after a client is replaced.
	DefaultWorkerMaxRSS = 1 << 30
	// DefaultClientIdleTimeout is cmdserver.client-idle-timeout: a client
	// that sent nothing for this long, with no command running, is closed
	// when other clients wait for a worker.
	DefaultClientIdleTimeout = 500 * time.Millisecond
)

// reuseCount is how many clients this worker serves: the configured
// count plus a random share of the jitter.
func (rw *runningWorker) reuseCount() int {
	n := rw.set.Reuse
	if n <= 1 {
		return 1
	}
	if jitter := rw.set.ReuseJitter; jitter > 0 {
		n += rand.IntN(jitter + 1)
	}
	return n
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

// accept waits for the next client on the listening socket; io.EOF when
// the master has closed our socketpair or ctx ended (the listener is then
// closed). Clients of another user are refused here, one by one.
func (rw *runningWorker) accept() (*net.UnixConn, error) {
	var backoff time.Duration
	for {
		c, err := rw.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, io.EOF
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				rw.log.Warn("accept failed; retrying", "error", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return nil, fmt.Errorf("accepting a client: %w", err)
		}
		uid, err := peerUID(c)
		if err != nil {
			rw.log.Warn("refused connection: unknown peer", "error", err)
			c.Close()
			continue
		}
		if uid != os.Geteuid() {
			rw.log.Warn("refused connection from another user", "uid", uid, "server_uid", os.Geteuid())
			c.Close()
			continue
		}
		return c, nil
	}
}

// announce tells the master that this worker took a client: once per
// client, just before the first write to it (the hello:
// trackedConn.beforeFirstWrite; not at accept, which would have the
// master compete for the CPU with the session's start), or after the
// client if nothing was written to it.
//
// With it go duplicates of conn and of the client page (handoff.go), for
// the master to answer the client if this worker dies during a command.
func (rw *runningWorker) announce(conn *net.UnixConn) {
	msg := controlMsg{Type: msgAccepted}
	var err error
	if fd := -1; rw.page != nil && conn != nil {
		if fd, err = connFD(conn); err == nil {
			err = rw.handOff(msg, fd, int(rw.page.f.Fd()))
		}
	} else {
		err = sendMsg(rw.ctl, msg)
	}
	if err != nil {
		// The master is gone: serve this client, then exit.
		rw.log.Debug("master gone", "error", err)
		rw.draining.Store(true)
	}
}

// handRelay hands the master the read ends of a lent command's fd 1 and
// fd 2 pipes (procstate.OnRelay), so that what the command wrote before
// the worker died is not lost with the relay.
func (rw *runningWorker) handRelay(stdout, stderr int) ([]byte, func(stream, n int)) {
	if err := rw.handOff(controlMsg{Type: msgRelay}, stdout, stderr); err != nil {
		rw.log.Debug("handing the master a command's output pipes", "error", err)
		return nil, nil
	}
	return rw.page.relayBuffer()
}

// readControl reads the master's messages for the worker's lifetime:
// drain requests go to rw.drains (and stop accepting); end of input closes
// rw.ctlGone.
func (rw *runningWorker) readControl() {
	defer close(rw.ctlGone)
	buf := make([]byte, maxControlMsg)
	for {
		m, err := recvMsg(rw.ctl, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				rw.log.Debug("reading control socket", "error", err)
			}
			return
		}
		switch m.Type {
		case msgDrain:
		case msgPing:
			if err := sendMsg(rw.ctl, controlMsg{Type: msgPong}); err != nil {
				rw.log.Debug("answering ping", "error", err)
			}
			continue
		case msgEvict:
			// Not idle (any more): the master picks another.
			answer := controlMsg{Type: msgIdle, IdleMS: -1}
			if c := rw.client.Load(); c != nil && c.evict(rw.idleAfter, rw.log) {
				answer = controlMsg{Type: msgEvicted}
			}
			if err := sendMsg(rw.ctl, answer); err != nil {
				rw.log.Debug("answering evict", "error", err)
			}
			continue
		case msgHandOverFailed:
			select {
			case rw.handOverFails <- m.Key:
			default: // nobody asked any more
			}
			continue
		case msgStatus:
			select {
			case rw.statusReplies <- m:
			default: // nobody asked any more
			}
			continue
		default:
			rw.log.Warn("unexpected control message", "type", m.Type)
			continue
		}
		rw.draining.Store(true)
		rw.ln.Close()
		select {
		case rw.drains <- struct{}{}:
		default:
		}
	}
}

// serveClient runs one session on conn and returns its exit status, and
// whether the master was told of the client (before the first write to it).
func (rw *runningWorker) serveClient(ctx context.Context, conn *net.UnixConn) (status int, announced bool) {
	fd, err := connFD(conn)
	if err != nil {
		writeLastResort(conn, err)
		return 255, false
	}
	for len(rw.ints) > 0 {
		<-rw.ints // an interrupt while idle is for no one
	}
	tc := &trackedConn{UnixConn: conn, last: time.Now(), beforeFirstWrite: func() { rw.announce(conn) }}
	if rw.page != nil {
		rw.page.reset()
		if tc.raw, err = conn.SyscallConn(); err != nil {
			writeLastResort(conn, err)
			return 255, false
		}
		tc.page = rw.page
	}
	opts := rw.opts
	opts.Dir = rw.dir
	sess := &session.Session{
		Handler:      rw.handler(),
		Options:      opts,
		Logger:       rw.log,
		Mode:         protocol.ModeUnix, // chg's extension makes it ModeChg
		Disconnected: session.PollHangup(fd),
		OnKey: func(key string) {
			if err := sendMsg(rw.ctl, controlMsg{Type: msgKey, Key: key}); err != nil {
				rw.log.Debug("reporting key", "error", err)
			}
		},
	}
	if rw.set.LogToClient {
		// cmdserver.log=-: while a client is connected, its session's
		// events go to that client's 'd' channel.
		sess.Logger = hclog.New(&hclog.LoggerOptions{
			Name:   "session",
			Level:  rw.log.GetLevel(),
			Output: &debugChannel{sess: sess},
		})
	}
	if rw.page != nil {
		sess.OnCommand = rw.page.startCommand
	}
	if sess.Commands == nil {
		sess.Commands = make(map[string]session.CommandFunc)
	}
	sess.Commands[StatusCommand] = rw.status
	// The client may give its commands its directory and environment
	// (chg's extension replaces these with its own).
	session.AddClientState(sess)
	if rw.extend != nil {
		rw.extend(sess, conn)
	}
	tc.sess = sess
	rw.client.Store(tc)
	defer rw.client.Store(nil)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go rw.watchIdle(tc, stopWatch)
	drain := rw.drains
	if rw.draining.Load() {
		drain = closedChan
	}
	done := make(chan error, 1)
	if err := sess.Greet(tc, tc); err != nil {
		done <- err // Serve would only return it
	} else {
		go func() { done <- sess.Serve(ctx, tc, tc) }()
	}
	var poll <-chan time.Time
	var drainedAt time.Time
	for {
		select {
		case err := <-done:
			if err != nil && !tc.wroteAny() {
				// Failed before its hello: the client would see nothing.
				writeLastResort(conn, err)
			}
			return session.ServeStatus(err), tc.wasAnnounced()
		case <-rw.ints:
			if !rw.signalCommand(sess, os.Interrupt) {
				rw.log.Debug("SIGINT between commands ignored")
			}
		case <-drain:
			drain = nil
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			poll = t.C
			drainedAt = time.Now()
			rw.endWhenIdle(sess, conn, drainedAt)
		case <-poll:
			rw.endWhenIdle(sess, conn, drainedAt)
		}
	}
}

// drainGrace is how long a session that has not run a command yet when
// the server starts shutting down may take to send one: a client that
// connected just then (chg sends its set-up requests first) gets its
// command run rather than cut off.
const drainGrace = 2 * time.Second

// endWhenIdle ends a draining session once no command runs and the
// session has had its one command (or the grace is over): the session
// then reads end of input between requests, a clean end, while a result
// being written still goes out.
func (rw *runningWorker) endWhenIdle(sess *session.Session, conn *net.UnixConn, drainedAt time.Time) {
	if sess.Busy() {
		return
	}
	if sess.CommandsDone() == 0 && time.Since(drainedAt) < drainGrace {
		return
	}
	_ = conn.CloseRead()
}

// closedChan is a channel that is always ready.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// writeLastResort sends err on the 'e' channel of a client that got
// nothing else, so that it sees why its connection closes.
func writeLastResort(conn *net.UnixConn, err error) {
	fw := session.NewFrameWriter(conn)
	_ = fw.WriteFrame(session.ChannelError, []byte("abort: "+err.Error()+"\n"))
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

// debugChannel writes log entries as 'd' frames of its session, or to
// stderr (the master's log) before the session has a connection.
type debugChannel struct {
	sess *session.Session
}

func (d *debugChannel) Write(p []byte) (int, error) {
	fw := d.sess.Frames()
	if fw == nil {
		return os.Stderr.Write(p)
	}
	if err := fw.WriteFrame(session.ChannelDebug, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
