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

	mu       sync.Mutex    // guards the fields below
	kick     chan struct{} // signalled when the fields below change (notifyLocked); the backlog watcher waits on it
	started  bool
	closing  bool
	closed   chan struct{} // closed when closing is set
	bound    *boundSocket  // nil when the socket is not ours to remove
	backlog  *os.File      // the listening socket, shared with every worker
	procs    map[*proc]struct{}
	idle     []*proc // ready workers accepting clients, most recent last
	starting int     // workers started and not yet ready
	active   int     // clients accepted and not yet ended
	lastAct  time.Time
	keys     *lru
	failures int         // consecutive workers that died before ready
	retry    *time.Timer // pending refill after failures
	// refillSoon is the pending refill after a worker took a client.
	refillSoon *time.Timer
	settings   settings

	// The dynamic pool: spareTarget spare (idle or starting) workers are
	// kept, between settings.minSpare and settings.maxSpare; it grows
	// when a client takes the last idle worker (lastDry) and shrinks
	// after settings.spareIdle without that.
	spareTarget int
	lastDry     time.Time
	// fdWait is the pending retry after the master ran out of file
	// descriptors; fdBackoff its delay.
	fdWait    *time.Timer
	fdBackoff time.Duration
	// atCap is set while clients wait with every worker slot taken.
	atCap bool
	// healthAt is when the health watcher wakes next; healthKick wakes
	// it sooner (wakeHealthLocked). lastShrink paces the pool's shrinking.
	healthAt     time.Time
	healthKick   chan struct{}
	healthChecks int // how many checks ran (tests)
	lastShrink   time.Time
	stats        poolStats

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
	s.spareTarget = st.minSpare
	s.stats.startedAt = time.Now()
	// Set before Ready: an idle timeout counted from LastActivity (chg's)
	// must not see the zero time once the socket accepts.
	s.lastAct = s.stats.startedAt
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
	if err != nil {
		if bound != nil {
			ln.Close()
			_ = bound.remove()
		}
		return err
	}
	// Ready before the first worker is started: a daemon detaches there
	// (setsid), and a worker started earlier would stay in its caller's
	// session, in a background process group of the caller's terminal,
	// orphaned once the master leaves: reading the terminal a client
	// attached would fail with EIO.
	if s.Ready != nil {
		s.Ready()
	}
	s.mu.Lock()
	s.bound, s.backlog = bound, backlog
	s.lastAct = time.Now()
	s.refillLocked()
	closing = s.closing
	if !closing {
		// Added under s.mu before closing is set: Shutdown's Wait never
		// races with this Add.
		s.wg.Add(1)
		go s.watchHealth()
	}
	s.mu.Unlock()
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
		s.healthKick = make(chan struct{}, 1)
	}
}

// notifyLocked wakes whoever waits for the server's state to change;
// s.mu must be held.
func (s *Server) notifyLocked() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// backlogPoll is how long the backlog watcher sleeps in poll(2) before it
// looks at the server's state again.
const backlogPoll = 100 * time.Millisecond

// watchBacklog acts for clients waiting in the listen backlog while no
// worker is ready: it starts a worker for them (within
// cmdserver.max-clients and the bound on parallel starts); at the cap it
// asks the worker of the longest-idle client to close that connection;
// while workers keep dying before they are ready it answers waiting
// clients with the reason. At shutdown it answers the clients still
// queued and returns.
func (s *Server) watchBacklog() {
	fd := int(s.backlog.Fd())
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var waitSince time.Time // since when a client waits with no worker ready
	for {
		s.mu.Lock()
		for !s.closing && len(s.idle) > 0 {
			s.atCap = false
			waitSince = time.Time{}
			s.mu.Unlock()
			// A change made after the unlock has left its kick in the
			// channel: none is missed.
			select {
			case <-s.kick:
			case <-s.closed:
			}
			s.mu.Lock()
		}
		closing := s.closing
		s.mu.Unlock()
		if closing {
			answerBacklog(fd, fmt.Errorf("server is shutting down: %w", ErrServerClosed))
			return
		}
		fds[0].Revents = 0
		n, err := unix.Poll(fds, int(backlogPoll/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			s.logger().Error("watching the listen backlog", "error", err)
			time.Sleep(backlogPoll)
			continue
		}
		if n <= 0 || fds[0].Revents&unix.POLLIN == 0 {
			s.mu.Lock()
			s.atCap = false
			waitSince = time.Time{}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		if !s.closing && len(s.idle) == 0 {
			// A client waits with no worker ready. When it still does a
			// moment later, with no worker on its way back from a client,
			// the pool ran dry: keep one more spare worker from now on.
			// (A client that merely connected before a ready worker was
			// scheduled, on a loaded machine, is not a reason to grow.)
			now := time.Now()
			if waitSince.IsZero() {
				waitSince = now
			} else if now.Sub(waitSince) >= dryAfter && s.returningLocked() == 0 {
				waitSince = now
				s.lastDry = now
				if s.spareTarget < s.settings.maxSpare {
					s.spareTarget++
					s.refillLocked()
				}
			}
		}
		acted := true
		switch {
		case s.closing || len(s.idle) > 0:
		case s.failures >= maxEarlyFailures:
			err := fmt.Errorf("worker processes keep exiting before they are ready (%d in a row): %s; see the server log", s.failures, s.stats.lastFailure)
			s.logger().Error("no worker for waiting clients", "error", err)
			answerBacklog(fd, err)
			s.failures = maxEarlyFailures - 1 // the next client gets one more try
		case s.fdWait != nil, s.retry != nil:
			acted = false // a retry is pending; clients wait for it
		case s.returningLocked() > 0:
			acted = false // a worker back from its client takes it sooner than a new one
		case s.liveLocked() >= s.settings.maxClients:
			if !s.atCap {
				s.atCap = true
				s.stats.maxClientsReached++
				s.logger().Warn("max-clients reached: a client waits for a worker", "max_clients", s.settings.maxClients)
			}
			s.evictIdleClientLocked()
			acted = false
		case s.starting <= s.spareTarget && s.starting < s.settings.parallel:
			// One beyond the pool's own refills: the pool grows through
			// its spare target, not through guesses at how many wait.
			s.startWorkersLocked(1, false)
		default:
			acted = false // workers are on their way
		}
		s.mu.Unlock()
		if !acted {
			// Nothing more to do until a worker is ready, takes a client
			// or ends (or, at the cap, until the next idle client may be
			// closed): wait for that rather than spin on the backlog.
			t := time.NewTimer(backlogPoll)
			select {
			case <-s.kick:
			case <-t.C:
			case <-s.closed:
			}
			t.Stop()
		}
	}
}

// dryAfter is how long a client must wait with no worker ready before the
// pool grows.
const dryAfter = 5 * time.Millisecond

// returningLocked counts the workers whose client has ended and that are
// on their way back to the pool (a Reusable Handler's worker restoring
// its state); s.mu must be held.
func (s *Server) returningLocked() int {
	n := 0
	for p := range s.procs {
		if p.state == stateBusy && !p.hasClient && !p.recycling {
			n++
		}
	}
	return n
}

// liveLocked counts the workers that are starting, ready or serving: each
// can hold a client, so their number is what cmdserver.max-clients caps.
func (s *Server) liveLocked() int {
	n := s.starting
	for p := range s.procs {
		if p.state == stateIdle || p.state == stateBusy {
			n++
		}
	}
	return n
}

// answerBacklog accepts the clients queued on the listening socket fd
// without serving them and tells each why on the 'e' channel.
func answerBacklog(fd int, why error) {
	for {
		nfd, err := sysfd.Accept(fd)
		if err != nil {
			return // EAGAIN: nobody else is waiting
		}
		f := os.NewFile(uintptr(nfd), "client")
		_ = session.NewFrameWriter(f).WriteFrame(session.ChannelError, []byte("abort: "+why.Error()+"\n"))
		f.Close()
	}
}

// refillDelay is how long after a worker took a client the pool is
// refilled.
const refillDelay = 10 * time.Millisecond

// accepted records that worker p took a client from the backlog.
func (s *Server) accepted(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.idle {
		if q == p {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			break
		}
	}
	if p.state == stateStopping && p.spare != nil {
		// Stopped while it took this client: it serves the client, then
		// exits (the end of input it reads tells it so).
		close(p.spare)
		p.spare = nil
	}
	p.state = stateBusy
	p.hasClient = true
	p.idleSince, p.evictSent = time.Time{}, time.Time{}
	s.active++
	s.stats.served++
	s.lastAct = time.Now()
	if s.closing {
		s.drainLocked(p) // accepted during shutdown: this command only
	}
	// Refill a moment later: starting a process competes for the CPU
	// with the client's first request, which on a small machine doubles
	// the time it waits.
	// One pending refill serves every client accepted meanwhile.
	if s.refillSoon == nil {
		s.refillSoon = time.AfterFunc(refillDelay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refillSoon = nil
			s.refillLocked()
		})
	}
	s.notifyLocked()
}

// endClientLocked records the end of the session of worker p's client, if
// it has one; s.mu must be held.
func (s *Server) endClientLocked(p *proc) {
	if !p.hasClient {
		return
	}
	p.hasClient = false
	p.idleSince, p.evictSent = time.Time{}, time.Time{}
	s.active--
	s.lastAct = time.Now()
	s.notifyLocked()
}

// ActiveClients returns the number of clients being served now.
func (s *Server) ActiveClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// LastActivity returns the time of the last accept or client end (chg's
// idle timeout counts from it).
func (s *Server) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAct
}

// idleWorkers returns the number of ready, idle workers (tests and
// benchmarks wait for the pool with it).
func (s *Server) idleWorkers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idle)
}

// Shutdown stops accepting, removes the socket file it bound (if still
// ours), stops idle workers, and waits for busy workers to finish their
// clients and exit. When ctx ends first, it kills the remaining workers'
// process groups and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	if !s.closing {
		s.closing = true
		close(s.closed)
		s.logger().Info("shutting down", "active_clients", s.active)
		if s.bound != nil {
			if err := s.bound.remove(); err != nil {
				s.logger().Warn("socket file left behind", "path", s.bound.path, "error", err)
			}
		}
		if s.retry != nil {
			s.retry.Stop()
			s.retry = nil
		}
		if s.fdWait != nil {
			s.fdWait.Stop()
			s.fdWait = nil
		}
		if s.refillSoon != nil {
			s.refillSoon.Stop()
			s.refillSoon = nil
		}
		for _, p := range s.idle {
			s.stopIdleLocked(p)
		}
		s.idle = nil
		// Clients still in the backlog have started nothing: the backlog
		// watcher tells them, rather than starting workers only to stop
		// them.
		s.notifyLocked()
		for p := range s.procs {
			switch p.state {
			case stateStarting:
				p.signalGroup(sigTerm) // no client yet: nothing to finish
			case stateBusy:
				s.drainLocked(p)
			}
		}
	}
	s.mu.Unlock()
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
	s.mu.Lock()
	for p := range s.procs {
		s.logger().Warn("terminating worker at shutdown deadline", "pid", p.pid)
		p.signalGroup(sigTerm)
	}
	s.mu.Unlock()
	t := time.NewTimer(shutdownKillGrace)
	defer t.Stop()
	select {
	case <-s.finished:
		return ctx.Err()
	case <-t.C:
	}
	s.mu.Lock()
	for p := range s.procs {
		s.logger().Warn("killing worker at shutdown deadline", "pid", p.pid)
		p.signalGroup(sigKill)
	}
	s.mu.Unlock()
	<-s.finished
	return ctx.Err()
}

// shutdownKillGrace is how long workers have between SIGTERM and SIGKILL
// when Shutdown's context ends.
const shutdownKillGrace = 2 * time.Second

// drainLocked asks a busy worker to end its session once the running
// command is done; s.mu must be held.
func (s *Server) drainLocked(p *proc) {
	if err := sendMsg(p.ctl, controlMsg{Type: msgDrain}); err != nil {
		s.logger().Debug("asking worker to drain", "pid", p.pid, "error", err)
	}
}

// stopIdleLocked ends an idle worker: end of input on its socketpair makes
// it exit; its process group is killed if it has not within 2 s.
//
// The worker may have just accepted a client and not yet said so: only
// the master's sending side is shut down, so that its "accepted" still
// arrives; accepted then spares it, and it serves that client (drained at
// shutdown: it was asked to drain first) and exits.
func (s *Server) stopIdleLocked(p *proc) {
	p.state = stateStopping
	if p.stopped {
		return // already; the worker exits on its own
	}
	p.stopped = true
	if s.closing {
		s.drainLocked(p)
	}
	if err := p.ctl.CloseWrite(); err != nil {
		s.logger().Debug("stopping worker", "pid", p.pid, "error", err)
		p.ctl.Close()
	}
	spare := make(chan struct{})
	p.spare = spare
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-spare:
		case <-t.C:
			p.signalGroup(sigKill)
		}
	}()
}

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
