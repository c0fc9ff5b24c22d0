package unixfork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/handover"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// ErrServerClosed is returned by ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("unixfork: server closed")

// Server is the master of a unix-socket command server. Fill in the fields
// and call ListenAndServe once. Zero values take their defaults from
// Config; see readSettings and docs/unix.md for the keys: a dynamic pool
// of 2 to 8 spare warm workers, at most 64 workers (so 64 clients) at
// once, reuse of workers for Reusable Handlers, idle clients closed when
// others wait, and health checks of the workers.
type Server struct {
	// Address is the socket path to bind when Listener is nil.
	Address string
	// Listener is a pre-bound listener (chg's renamed socket, systemd
	// activation): served, never unlinked.
	Listener *net.UnixListener
	// ListenerPath is where Listener's socket file is, for a hand-over
	// to a new binary (HandOver); "": it cannot hand over.
	ListenerPath string
	// Session is what every session starts from: the server-wide
	// configuration (which also holds the pool's cmdserver.* keys), the
	// starting directory ("": the master's), --traceback and whether
	// requests read Mercurial's global options. Workers get it whole in
	// their start-up message.
	Session protocol.SessionOptions
	// Logger receives the master's events and the workers' stderr. nil:
	// no logging.
	Logger hclog.Logger
	// WorkerData is handed to every worker in its start-up message, for
	// the session extension of the program (chg puts its server state
	// there).
	WorkerData []byte
	// Args0 is os.Args[0] of re-executed workers (under testscript the
	// basename picks the program). "": os.Args[0].
	Args0 string
	// Ready, if set, is called once the socket accepts connections.
	Ready func()
	// WatchFiles are files besides the binary that the master watches
	// and hands over on (HandOver): what the program read as it started
	// and cannot read again (Program.InitFiles, chg's MtimePaths), so
	// that a new start of it has read them by the next call. Empty names
	// are ignored.
	WatchFiles []string

	mu sync.Mutex // guards the fields below and the pool's state
	// kick is a wake-up for the backlog watcher, nothing more: after
	// every pool event but its own (carryOut) one is left in it, saying
	// only that the pool may have changed. The watcher waits on it when
	// it could not act for a waiting client, and while it rechecks a
	// client seen with workers ready (to stop once none is).
	kick chan struct{}
	// tickKick wakes the supervisor when an event moved the pool's next
	// deadline earlier (pool.woken).
	tickKick chan struct{}
	// wake, written to by Shutdown, wakes the backlog watcher from a
	// poll(2) with no timeout (wakeR is the read end it polls).
	wakeR, wake *os.File
	started     bool
	closing     bool
	closed      chan struct{} // closed when closing is set
	bound       *boundSocket  // nil when the socket is not ours to remove
	backlog     *os.File      // the listening socket, shared with every worker
	procs       map[*proc]struct{}
	keys        *lru
	fresh       freshness // the current generation's dependencies (refresh.go)
	binary      binaryState
	pool        *pool // the policy (policy.go); nil before ListenAndServe
	settings    settings

	wg       sync.WaitGroup
	finished chan struct{} // closed when every goroutine and worker is gone
	waitOnce sync.Once
}

type settings struct {
	minSpare, maxSpare, maxClients, maxKeys int
	// parallel bounds the workers starting at once (the cores): more
	// would only slow each other down.
	parallel int
	// spareIdle: spare workers beyond the floor are stopped after the
	// pool has not run dry for this long. startTimeout: a worker not
	// ready by then is killed. answerTimeout: an idle worker that does
	// not answer a ping within it is killed and replaced.
	spareIdle, startTimeout, answerTimeout time.Duration
	// init is what every worker's start-up message carries besides its
	// prewarm keys (settings.go).
	init workerInit
}

// Defaults of the master's settings (see docs/unix.md).
const (
	DefaultMinSpareWorkers     = 2
	DefaultMaxSpareWorkers     = 8
	DefaultMaxClients          = 64
	DefaultSpareIdleTimeout    = 10 * time.Second
	DefaultWorkerStartTimeout  = 30 * time.Second
	DefaultWorkerAnswerTimeout = 2 * time.Second
)

func (s *Server) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

// readSettings reads the pool's configuration. cmdserver.workers, the key
// of the fixed pool that came first, still works: alone, it fixes the
// number of spare workers (min = max); next to the new keys it is the
// floor. Worker-side keys are checked here too, so that a bad value stops
// the server at start rather than every worker.
func (s *Server) readSettings() (settings, error) {
	cfg := s.Session.ConfigOrEmpty()
	var st settings
	var err error
	ints := []struct {
		p   *int
		key string
		def int
	}{
		{&st.minSpare, "cmdserver.min-spare-workers", DefaultMinSpareWorkers},
		{&st.maxSpare, "cmdserver.max-spare-workers", DefaultMaxSpareWorkers},
		{&st.maxClients, "cmdserver.max-clients", DefaultMaxClients},
		{&st.maxKeys, "cmdserver.max-repo-cache", 0},
	}
	if _, ok := cfg.Lookup("cmdserver.workers"); ok {
		n, err := cfg.Int("cmdserver.workers", 0)
		if err != nil {
			return st, err
		}
		ints[0].def, ints[1].def = n, n
	}
	for _, k := range ints {
		if *k.p, err = cfg.Int(k.key, k.def); err != nil {
			return st, err
		}
	}
	durs := []struct {
		p   *time.Duration
		key string
		def time.Duration
	}{
		{&st.spareIdle, "cmdserver.spare-idle-timeout", DefaultSpareIdleTimeout},
		{&st.startTimeout, "cmdserver.worker-start-timeout", DefaultWorkerStartTimeout},
		{&st.answerTimeout, "cmdserver.worker-answer-timeout", DefaultWorkerAnswerTimeout},
	}
	for _, d := range durs {
		if *d.p, err = configDuration(cfg, d.key, d.def); err != nil {
			return st, err
		}
	}
	if st.init, err = newWorkerInit(s.Session, s.WorkerData); err != nil {
		return st, err
	}
	st.minSpare = max(st.minSpare, 0)
	st.maxSpare = max(st.maxSpare, st.minSpare)
	st.maxClients = max(st.maxClients, 1)
	st.maxKeys = max(st.maxKeys, 0)
	st.parallel = max(runtime.NumCPU(), 1)
	return st, nil
}

// ListenAndServe binds Address (or uses Listener) and serves until
// Shutdown, or until ctx is cancelled, which starts a Shutdown without a
// deadline. After a shutdown it returns ErrServerClosed once every worker
// has exited; any other error is returned after stopping the workers.
//
// The master never serves a client and, while a worker is ready, never
// accepts one either: every ready worker blocks in accept(2) on its own
// copy of the listening socket, so that a client's connect reaches a warm
// process with no hand-off. The master only watches the backlog for
// clients no worker is there to take, and starts workers for them.
func (s *Server) ListenAndServe(ctx context.Context) error {
	st, err := s.readSettings()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("unixfork: ListenAndServe called twice")
	}
	s.started = true
	s.init()
	s.settings = st
	// Its last activity is now, before Ready: an idle timeout counted
	// from LastActivity (chg's) must not see the zero time once the
	// socket accepts.
	s.pool = newPool(st, time.Now())
	s.keys = newLRU(st.maxKeys)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}

	ln, bound := s.Listener, (*boundSocket)(nil)
	if ln == nil {
		if ln, bound, err = listen(s.Address); err != nil {
			return err
		}
	}
	backlog, err := shareListener(ln)
	var wakeR, wake *os.File
	if err == nil {
		wakeR, wake, err = os.Pipe()
		if err != nil {
			backlog.Close()
			err = fmt.Errorf("creating the backlog watcher's pipe: %w", err)
		}
	}
	if err != nil {
		if bound != nil {
			ln.Close()
			_ = bound.remove()
		}
		return err
	}
	defer wakeR.Close()
	defer wake.Close()
	// Ready before the first worker is started: a daemon detaches there
	// (setsid), and a worker started earlier would stay in its caller's
	// session, in a background process group of the caller's terminal,
	// orphaned once the master leaves: reading the terminal a client
	// attached would fail with EIO.
	// The hand-over's leftovers, and the watch on the binary, before
	// Ready: what Ready does (a daemon's detach) must not wait on them.
	handover.CloseUnused()
	handover.Reap()
	s.watchBinary()
	if s.Ready != nil {
		s.Ready()
	}
	s.mu.Lock()
	s.bound, s.backlog = bound, backlog
	s.wakeR, s.wake = wakeR, wake
	closing = s.closing
	var acts []action
	if !closing {
		s.pool.begin(time.Now())
		acts = s.takeLocked()
		// Added under s.mu before closing is set: Shutdown's Wait never
		// races with this Add.
		s.wg.Add(1)
		go s.supervise()
	}
	s.mu.Unlock()
	s.carryOut(acts, true)
	if closing { // Shutdown came while we were binding
		ln.Close()
		backlog.Close()
		if bound != nil {
			// Shutdown ran before s.bound was set: it removed nothing.
			if err := bound.remove(); err != nil {
				s.logger().Warn("socket file left behind", "path", bound.path, "error", err)
			}
		}
		_ = s.Shutdown(context.Background())
		return ErrServerClosed
	}
	s.logger().Info("listening", "address", s.addr(ln), "min_spare_workers", st.minSpare,
		"max_spare_workers", st.maxSpare, "max_clients", st.maxClients)
	stop := context.AfterFunc(ctx, func() { _ = s.Shutdown(context.Background()) })
	defer stop()
	s.watchBacklog()
	<-s.finished
	backlog.Close() // only now: workers still starting were handed it
	return ErrServerClosed
}

// shareListener returns the listening socket as a non-blocking file that
// workers inherit, and closes ln without unlinking its name: the master
// must not wake up for every client a worker accepts, which it would with
// the socket in its own poller.
func shareListener(ln *net.UnixListener) (*os.File, error) {
	f, err := ln.File()
	if err != nil {
		return nil, fmt.Errorf("sharing the listening socket: %w", err)
	}
	defer f.Close()
	// Fd puts the socket in blocking mode, and so does every later Fd
	// call on a file that os registered as non-blocking (exec.Cmd calls
	// it for ExtraFiles): hand out a duplicate made while blocking, which
	// os leaves alone, then make the shared socket non-blocking for good.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sharing the listening socket: %w", err)
	}
	shared := os.NewFile(uintptr(fd), "listener")
	if err := unix.SetNonblock(fd, true); err != nil {
		shared.Close()
		return nil, fmt.Errorf("sharing the listening socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return shared, nil
}

// init prepares the channels; s.mu must be held.
func (s *Server) init() {
	if s.closed == nil {
		s.closed = make(chan struct{})
		s.finished = make(chan struct{})
		s.procs = make(map[*proc]struct{})
		s.kick = make(chan struct{}, 1)
		s.tickKick = make(chan struct{}, 1)
	}
}

// event runs f on the pool under s.mu, then carries out what it decided
// with the lock released: every send to a worker, answer to a client and
// log line of the policy happens outside the lock.
func (s *Server) event(f func(pl *pool, now time.Time)) { s.feed(f, true) }

// quietEvent is event without waking the backlog watcher: for the
// watcher's own events.
func (s *Server) quietEvent(f func(pl *pool, now time.Time)) { s.feed(f, false) }

func (s *Server) feed(f func(pl *pool, now time.Time), kick bool) {
	s.mu.Lock()
	f(s.pool, time.Now())
	acts := s.takeLocked()
	s.mu.Unlock()
	s.carryOut(acts, kick)
}

// takeLocked returns the pool's actions, the goroutines they start
// already counted in s.wg (under s.mu, so that Shutdown's Wait never races
// with the Add); s.mu must be held.
func (s *Server) takeLocked() []action {
	acts := s.pool.take()
	for _, a := range acts {
		if a.kind == actStart || a.kind == actStop {
			s.wg.Add(1)
		}
	}
	if s.pool.woken {
		s.pool.woken = false
		select {
		case s.tickKick <- struct{}{}:
		default:
		}
	}
	return acts
}

// carryOut does what the pool decided; s.mu must not be held. kick wakes
// the backlog watcher, which may wait for the pool to change (its own
// events do not wake it).
func (s *Server) carryOut(acts []action, kick bool) {
	if kick {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	log := s.logger()
	for _, a := range acts {
		p := a.w.procOrNil()
		switch a.kind {
		case actStart:
			go s.startWorker(a.w, a.rehearse)
		case actStop:
			s.stopWorker(a.w, a.drain)
		case actLog:
			log.Log(a.level, a.msg, a.args...)
		case actAnswer:
			s.answerBacklog(a.err, a.start)
		case actPing, actDrain, actEvict:
			if p == nil {
				continue
			}
			if err := sendMsg(p.ctl, controlMsg{Type: actMessages[a.kind]}); err != nil {
				log.Debug("sending to worker", "pid", p.pid, "error", err)
			} else if a.kind == actEvict {
				log.Info("asked a worker to close its idle client: clients wait at max-clients",
					"pid", p.pid, "idle", a.idle.Round(time.Millisecond))
			}
		case actKill:
			if p != nil {
				p.signalGroup(sigKill)
			}
		case actTerm:
			if p != nil {
				p.signalGroup(sigTerm)
			}
		}
	}
}

// actMessages are the control messages of the actions that send one.
var actMessages = map[actionKind]string{actPing: msgPing, actDrain: msgDrain, actEvict: msgEvict}

// stopWorker ends an idle worker: end of input on its socketpair makes it
// exit; its process group is killed if, stopGrace later, it has not and
// the pool still has it stopping. Only the master's sending side is shut
// down, so that an "accepted" the worker sent meanwhile still arrives; it
// then serves that client (drained at shutdown: it was asked to drain
// first) and exits. The goroutine is counted in s.wg by takeLocked.
func (s *Server) stopWorker(w *worker, drain bool) {
	p := w.procOrNil()
	if p == nil {
		s.wg.Done()
		return
	}
	if drain {
		s.drain(p)
	}
	if err := p.ctl.CloseWrite(); err != nil {
		s.logger().Debug("stopping worker", "pid", p.pid, "error", err)
		p.ctl.Close()
	}
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.exited:
			return
		case <-t.C:
		}
		s.mu.Lock()
		kill := s.pool.killStopped(w)
		s.mu.Unlock()
		if kill {
			p.signalGroup(sigKill)
		}
	}()
}

// drain asks a busy worker to end its session once the running command is
// done.
func (s *Server) drain(p *proc) {
	if err := sendMsg(p.ctl, controlMsg{Type: msgDrain}); err != nil {
		s.logger().Debug("asking worker to drain", "pid", p.pid, "error", err)
	}
}

// backlogPoll is how long the backlog watcher sleeps in poll(2) before it
// looks at the pool again while no worker is ready.
const backlogPoll = 100 * time.Millisecond

// watchBacklog reports clients waiting in the listen backlog to the pool
// (clientsWaiting while no worker is ready, waitingWhileReady while some
// are) and carries out what it decides. While workers are ready it sleeps
// in poll(2) until a client connects (which they take at once) or
// Shutdown writes to s.wake, and after a client is seen it looks again
// only stuckAfter later: it wakes at most a few times a second, not for
// every client. At shutdown it answers the clients still queued and
// returns.
func (s *Server) watchBacklog() {
	fd := int(s.backlog.Fd())
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(s.wakeR.Fd()), Events: unix.POLLIN}}
	look := false // look at once, without waiting: a recheck is due
	for {
		s.mu.Lock()
		closing, ready := s.closing, len(s.pool.idle) > 0
		if ready {
			s.pool.workersReady()
		}
		s.mu.Unlock()
		if closing {
			s.answerBacklog(fmt.Errorf("server is shutting down: %w", ErrServerClosed), nil)
			return
		}
		timeout := int(backlogPoll / time.Millisecond)
		switch {
		case look:
			timeout = 0
		case ready:
			timeout = -1
		}
		look = false
		fds[0].Revents, fds[1].Revents = 0, 0
		n, err := unix.Poll(fds, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			s.logger().Error("watching the listen backlog", "error", err)
			time.Sleep(backlogPoll)
			continue
		}
		if n <= 0 || fds[0].Revents&unix.POLLIN == 0 {
			s.quietEvent(func(pl *pool, _ time.Time) { pl.noClientWaiting() })
			continue
		}
		acted, recheck := true, time.Duration(0)
		s.quietEvent(func(pl *pool, now time.Time) {
			if len(pl.idle) > 0 {
				recheck = pl.waitingWhileReady(now)
			} else {
				acted = pl.clientsWaiting(now)
			}
		})
		switch {
		case recheck > 0:
			look = true
			s.sleepWhileReady(recheck)
		case !acted:
			// Nothing more to do until a worker is ready, takes a client
			// or ends (or, at the cap, until the next idle client may be
			// closed): wait for that rather than spin on the backlog.
			s.sleep(backlogPoll, true)
		}
	}
}

// sleep waits for d, or until shutdown, or (kicked) until a pool event.
func (s *Server) sleep(d time.Duration, kicked bool) {
	kick := s.kick
	if !kicked {
		kick = nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-kick:
	case <-t.C:
	case <-s.closed:
	}
}

// sleepWhileReady waits for d, or until shutdown, or until no worker is
// ready any more: a client that waits then is the backlog watcher's to
// start a worker for, now.
func (s *Server) sleepWhileReady(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-s.kick:
			s.mu.Lock()
			ready := !s.closing && len(s.pool.idle) > 0
			s.mu.Unlock()
			if !ready {
				return
			}
		case <-t.C:
			return
		case <-s.closed:
			return
		}
	}
}

// answerBacklog accepts the clients queued on the listening socket fd
// without serving them and tells each why on the 'e' channel.
func (s *Server) answerBacklog(why error, start *startFailure) {
	for {
		nfd, err := sysfd.Accept(int(s.backlog.Fd()))
		if err != nil {
			return // EAGAIN: nobody else is waiting
		}
		f := os.NewFile(uintptr(nfd), "client")
		if start != nil && s.WorkerData == nil {
			go s.answerAsStart(f, start)
			continue
		}
		_ = session.NewFrameWriter(f).WriteFrame(session.ChannelError, []byte("abort: "+why.Error()+"\n"))
		f.Close()
	}
}

// startAnswerTimeout bounds a session answerAsStart serves.
const startAnswerTimeout = 30 * time.Second

// answerAsStart serves client a session of one command that ends as the
// workers' start did, which is how a plain run of the program ends while
// its package initialisation exits: their output on 'e', their status.
// The client's next command, on a new connection, gets a new worker.
// (chg's clients are not answered so: their validate, which this
// session does not speak, sends them to a server of their own.)
func (s *Server) answerAsStart(client *os.File, start *startFailure) {
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(startAnswerTimeout))
	sess := &session.Session{
		Handler:    &session.StartupEnd{Stderr: start.output, Status: start.status},
		Options:    s.Session,
		Logger:     s.logger(),
		Mode:       protocol.ModeUnix,
		OneCommand: true,
	}
	if err := sess.Serve(context.Background(), client, client); err != nil && !errors.Is(err, session.ErrCommandServed) {
		s.logger().Debug("answering a client as the workers' start ended", "error", err)
	}
}

// ActiveClients returns the number of clients being served now.
func (s *Server) ActiveClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return 0
	}
	return s.pool.active()
}

// LastActivity returns the time of the last accept or client end (chg's
// idle timeout counts from it).
func (s *Server) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return time.Time{}
	}
	return s.pool.lastAct
}

// idleWorkers returns the number of ready, idle workers (tests and
// benchmarks wait for the pool with it).
func (s *Server) idleWorkers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return 0
	}
	return len(s.pool.idle)
}

// Shutdown stops accepting, removes the socket file it bound (if still
// ours), stops idle workers, and waits for busy workers to finish their
// clients and exit. When ctx ends first, it kills the remaining workers'
// process groups and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	var (
		acts  []action
		bound *boundSocket
		wake  *os.File
		first = !s.closing
	)
	if first {
		s.closing = true
		close(s.closed)
		bound, wake = s.bound, s.wake
		if s.pool != nil {
			s.pool.shutdown()
			acts = s.takeLocked()
		}
	}
	noPool := s.pool == nil
	s.mu.Unlock()
	if first && noPool {
		s.logger().Info("shutting down", "active_clients", 0)
	}
	if bound != nil {
		if err := bound.remove(); err != nil {
			s.logger().Warn("socket file left behind", "path", bound.path, "error", err)
		}
	}
	s.carryOut(acts, true)
	if first {
		s.closeWatch()
		s.closeBinaryWatch()
	}
	if wake != nil {
		_, _ = wake.Write([]byte{0}) // the backlog watcher answers the clients queued
	}
	s.waitOnce.Do(func() {
		go func() {
			s.wg.Wait()
			close(s.finished)
		}()
	})
	select {
	case <-s.finished:
		return nil
	case <-ctx.Done():
	}
	// SIGTERM first: a worker then hangs up the shells it started in
	// process groups of their own, out of reach of a signal to its group.
	s.signalAll(sigTerm, "terminating worker at shutdown deadline")
	t := time.NewTimer(shutdownKillGrace)
	defer t.Stop()
	select {
	case <-s.finished:
		return ctx.Err()
	case <-t.C:
	}
	s.signalAll(sigKill, "killing worker at shutdown deadline")
	<-s.finished
	return ctx.Err()
}

// signalAll signals every worker's process group, and logs it.
func (s *Server) signalAll(sig unix.Signal, msg string) {
	s.mu.Lock()
	procs := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	for _, p := range procs {
		s.logger().Warn(msg, "pid", p.pid)
		p.signalGroup(sig)
	}
}

// shutdownKillGrace is how long workers have between SIGTERM and SIGKILL
// when Shutdown's context ends.
const shutdownKillGrace = 2 * time.Second

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// addr names the socket for logs: the path we bound, not the temporary
// name the listener was bound under.
func (s *Server) addr(ln *net.UnixListener) string {
	if s.Listener == nil {
		return s.Address
	}
	return ln.Addr().String()
}
