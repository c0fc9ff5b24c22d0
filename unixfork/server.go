package unixfork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// ErrServerClosed is returned by ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("unixfork: server closed")

// Server is the master of a unix-socket command server. Fill in the fields
// and call ListenAndServe once. Zero values take their defaults from
// Config: cmdserver.workers=2 idle workers, cmdserver.max-clients=64
// clients at once, cmdserver.worker-reuse=1 client per worker,
// cmdserver.max-repo-cache=0 remembered warm-up keys.
type Server struct {
	// Address is the socket path to bind when Listener is nil.
	Address string
	// Listener is a pre-bound listener (chg's renamed socket, systemd
	// activation): served, never unlinked.
	Listener *net.UnixListener
	// Config is the server-wide configuration; workers get it too.
	Config *protocol.Config
	// Logger receives the master's events and the workers' stderr. nil:
	// no logging.
	Logger hclog.Logger
	// Mode is an opaque label handed to every worker ("unix", "chgunix");
	// WorkerMode returns it there.
	Mode string
	// Args0 is os.Args[0] of re-executed workers (under testscript the
	// basename picks the program). "": os.Args[0].
	Args0 string
	// Ready, if set, is called once the socket accepts connections.
	Ready func()
	// Dir is the starting working directory of sessions ("": the
	// master's), and Traceback adds stack traces to their errors.
	Dir       string
	Traceback bool

	mu       sync.Mutex // guards the fields below
	started  bool
	closing  bool
	closed   chan struct{} // closed when closing is set
	ln       *net.UnixListener
	bound    *boundSocket // nil when the socket is not ours to remove
	procs    map[*proc]struct{}
	idle     []*proc // ready workers, most recently ready last
	waiters  []*waiter
	starting int // workers started and not yet ready
	active   int // clients accepted and not yet ended
	lastAct  time.Time
	keys     *lru
	failures int         // consecutive workers that died before ready
	retry    *time.Timer // pending refill after failures
	settings settings

	sem      chan struct{} // one token per client being served (max-clients)
	wg       sync.WaitGroup
	finished chan struct{} // closed when every goroutine and worker is gone
	waitOnce sync.Once
}

type settings struct {
	workers, maxClients, maxKeys int
}

// waiter is a client connection waiting for a ready worker.
type waiter struct {
	ch chan waitResult
}

type waitResult struct {
	p   *proc
	err error
}

func (s *Server) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

func (s *Server) readSettings() (settings, error) {
	cfg := s.Config
	if cfg == nil {
		cfg = &protocol.Config{}
	}
	var st settings
	var err error
	if st.workers, err = cfg.Int("cmdserver.workers", 2); err != nil {
		return st, err
	}
	if st.maxClients, err = cfg.Int("cmdserver.max-clients", 64); err != nil {
		return st, err
	}
	if st.maxKeys, err = cfg.Int("cmdserver.max-repo-cache", 0); err != nil {
		return st, err
	}
	if _, err = cfg.Int("cmdserver.worker-reuse", 1); err != nil {
		return st, err
	}
	st.workers = max(st.workers, 0)
	st.maxClients = max(st.maxClients, 1)
	st.maxKeys = max(st.maxKeys, 0)
	return st, nil
}

// ListenAndServe binds Address (or uses Listener) and serves until
// Shutdown, or until ctx is cancelled, which starts a Shutdown without a
// deadline. After a shutdown it returns ErrServerClosed once every worker
// has exited; any other error is returned after stopping the workers.
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
	s.keys = newLRU(st.maxKeys)
	s.sem = make(chan struct{}, st.maxClients)
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
	s.mu.Lock()
	s.ln, s.bound = ln, bound
	s.lastAct = time.Now()
	s.wg.Add(1) // the accept loop
	s.refillLocked()
	closing = s.closing
	s.mu.Unlock()
	if closing { // Shutdown came while we were binding
		ln.Close()
		s.wg.Done()
		_ = s.Shutdown(context.Background())
		return ErrServerClosed
	}
	s.logger().Info("listening", "address", s.addr(ln), "workers", st.workers, "max_clients", st.maxClients)
	stop := context.AfterFunc(ctx, func() { _ = s.Shutdown(context.Background()) })
	defer stop()
	if s.Ready != nil {
		s.Ready()
	}
	err = s.acceptLoop(ln)
	s.wg.Done()
	if !errors.Is(err, ErrServerClosed) {
		s.logger().Error("accepting connections", "error", err)
		_ = s.Shutdown(context.Background())
		return fmt.Errorf("accepting connections: %w", err)
	}
	<-s.finished
	return ErrServerClosed
}

// init prepares the channels; s.mu must be held.
func (s *Server) init() {
	if s.closed == nil {
		s.closed = make(chan struct{})
		s.finished = make(chan struct{})
		s.procs = make(map[*proc]struct{})
	}
}

func (s *Server) acceptLoop(ln *net.UnixListener) error {
	var backoff time.Duration
	for {
		// At the cap, stop accepting: further clients wait in the backlog.
		select {
		case s.sem <- struct{}{}:
		case <-s.closed:
			return ErrServerClosed
		}
		c, err := ln.AcceptUnix()
		if err != nil {
			<-s.sem
			select {
			case <-s.closed:
				return ErrServerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept failed; retrying", "error", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		s.active++
		s.lastAct = time.Now()
		s.wg.Add(1)
		s.mu.Unlock()
		go s.dispatch(c)
	}
}

// dispatch checks the client's credentials and hands the connection to a
// ready worker. It owns c until the hand-off.
func (s *Server) dispatch(c *net.UnixConn) {
	defer s.wg.Done()
	defer c.Close()
	uid, err := peerUID(c)
	if err != nil || uid != os.Geteuid() {
		s.logger().Warn("refused connection from another user", "uid", uid, "server_uid", os.Geteuid(), "error", err)
		s.endClient(nil)
		return
	}
	fd, err := connFD(c)
	if err != nil {
		s.endClient(nil)
		return
	}
	for attempt := 0; ; attempt++ {
		p, err := s.getWorker()
		if err != nil {
			s.logger().Error("no worker for a client", "error", err)
			writeLastResort(c, err)
			s.endClient(nil)
			return
		}
		if err := sendMsg(p.ctl, controlMsg{Type: msgConn}, fd); err != nil {
			// The worker died between ready and hand-off: try another.
			// The client keeps its slot; the worker's end is seen by its
			// control reader.
			s.logger().Warn("handing a client to a worker failed", "pid", p.pid, "error", err)
			s.mu.Lock()
			p.hasClient = false
			s.mu.Unlock()
			if attempt < 3 {
				continue
			}
			writeLastResort(c, fmt.Errorf("cannot hand the connection to a worker: %w", err))
			s.endClient(nil)
			return
		}
		s.logger().Debug("client handed to worker", "pid", p.pid)
		s.mu.Lock()
		if s.closing {
			s.drainLocked(p) // handed during shutdown: this command only
		}
		s.mu.Unlock()
		return
	}
}

// refillDelay is how long after taking an idle worker the pool is
// refilled.
const refillDelay = 10 * time.Millisecond

// getWorker returns a ready worker, now counted as busy with a client.
// When none is idle, it waits for one, starting it on demand.
func (s *Server) getWorker() (*proc, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		p := s.idle[n-1] // most recently ready: warmest caches
		s.idle = s.idle[:n-1]
		s.takeLocked(p)
		// Refill a moment later: starting a process competes for the CPU
		// with the hand-off and the client's first request, which on a
		// small machine doubles the connect time.
		time.AfterFunc(refillDelay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refillLocked()
		})
		s.mu.Unlock()
		return p, nil
	}
	w := &waiter{ch: make(chan waitResult, 1)}
	s.waiters = append(s.waiters, w)
	s.refillLocked()
	s.mu.Unlock()
	r := <-w.ch
	return r.p, r.err
}

// takeLocked marks p as serving a client; s.mu must be held.
func (s *Server) takeLocked(p *proc) {
	p.state = stateBusy
	p.hasClient = true
}

// endClient records the end of a client's session (p: its worker, nil
// when no worker served it).
func (s *Server) endClient(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endClientLocked(p)
}

func (s *Server) endClientLocked(p *proc) {
	if p != nil {
		if !p.hasClient {
			return
		}
		p.hasClient = false
	}
	s.active--
	s.lastAct = time.Now()
	<-s.sem
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
		if s.ln != nil {
			s.ln.Close()
		}
		if s.bound != nil {
			if err := s.bound.remove(); err != nil {
				s.logger().Warn("socket file left behind", "path", s.bound.path, "error", err)
			}
		}
		if s.retry != nil {
			s.retry.Stop()
			s.retry = nil
		}
		for _, p := range s.idle {
			s.stopIdleLocked(p)
		}
		s.idle = nil
		// Clients still waiting for a worker have not started anything:
		// tell them, rather than start workers only to stop them.
		for _, w := range s.waiters {
			w.ch <- waitResult{err: fmt.Errorf("server is shutting down: %w", ErrServerClosed)}
		}
		s.waiters = nil
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
	s.mu.Lock()
	for p := range s.procs {
		s.logger().Warn("killing worker at shutdown deadline", "pid", p.pid)
		p.signalGroup(sigKill)
	}
	s.mu.Unlock()
	<-s.finished
	return ctx.Err()
}

// drainLocked asks a busy worker to end its session once the running
// command is done; s.mu must be held.
func (s *Server) drainLocked(p *proc) {
	if err := sendMsg(p.ctl, controlMsg{Type: msgDrain}); err != nil {
		s.logger().Debug("asking worker to drain", "pid", p.pid, "error", err)
	}
}

// stopIdleLocked ends an idle worker: end of input on its socketpair makes
// it exit; its process group is killed if it has not within 2 s.
func (s *Server) stopIdleLocked(p *proc) {
	p.state = stateStopping
	p.ctl.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-p.exited:
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
