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
	"golang.org/x/sys/unix"

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
	changed  *sync.Cond // broadcast when the fields below change
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
	settings settings

	wg       sync.WaitGroup
	finished chan struct{} // closed when every goroutine and worker is gone
	waitOnce sync.Once
}

type settings struct {
	workers, maxClients, maxKeys int
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
	s.mu.Unlock()
	if closing { // Shutdown came while we were binding
		ln.Close()
		backlog.Close()
		_ = s.Shutdown(context.Background())
		return ErrServerClosed
	}
	s.logger().Info("listening", "address", s.addr(ln), "workers", st.workers, "max_clients", st.maxClients)
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
		s.changed = sync.NewCond(&s.mu)
	}
}

// backlogPoll is how long the backlog watcher sleeps in poll(2) before it
// looks at the server's state again.
const backlogPoll = 100 * time.Millisecond

// watchBacklog starts a worker when a client waits in the listen backlog
// and no worker is ready or starting (cmdserver.workers=0, or a burst that
// emptied the pool), within cmdserver.max-clients: beyond the cap clients
// wait in the backlog. While workers keep dying before they are ready it
// answers waiting clients with the reason instead. At shutdown it answers
// the clients still queued and returns.
func (s *Server) watchBacklog() {
	fd := int(s.backlog.Fd())
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		s.mu.Lock()
		for !s.closing && !s.noWorkerForBacklogLocked() {
			s.changed.Wait()
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
			continue
		}
		s.mu.Lock()
		switch {
		case s.closing || !s.noWorkerForBacklogLocked():
		case s.failures >= maxEarlyFailures:
			err := fmt.Errorf("worker processes keep exiting before they are ready (%d in a row); see the server log", s.failures)
			s.logger().Error("no worker for waiting clients", "error", err)
			answerBacklog(fd, err)
			s.failures = maxEarlyFailures - 1 // the next client gets one more try
		default:
			s.startWorkersLocked(1, false)
		}
		s.mu.Unlock()
	}
}

// noWorkerForBacklogLocked reports whether a client arriving now would
// find no worker ready, and none started for it beyond the pool's own
// refills, while the cap allows one more; s.mu must be held. Starting one
// for a waiting client next to the refills matters when the pool runs dry
// (a shell loop against a slow constructor with one client per worker).
func (s *Server) noWorkerForBacklogLocked() bool {
	return len(s.idle) == 0 && s.starting <= s.settings.workers && s.liveLocked() < s.settings.maxClients
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
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: nobody else is waiting
		}
		f := os.NewFile(uintptr(nfd), "client")
		_ = protocol.NewFrameWriter(f).WriteFrame(protocol.ChannelError, []byte("abort: "+why.Error()+"\n"))
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
	p.state = stateBusy
	p.hasClient = true
	s.active++
	s.lastAct = time.Now()
	if s.closing {
		s.drainLocked(p) // accepted during shutdown: this command only
	}
	// Refill a moment later: starting a process competes for the CPU
	// with the client's first request, which on a small machine doubles
	// the time it waits.
	time.AfterFunc(refillDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.refillLocked()
	})
	s.changed.Broadcast()
}

// endClientLocked records the end of the session of worker p's client, if
// it has one; s.mu must be held.
func (s *Server) endClientLocked(p *proc) {
	if !p.hasClient {
		return
	}
	p.hasClient = false
	s.active--
	s.lastAct = time.Now()
	s.changed.Broadcast()
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
		for _, p := range s.idle {
			s.stopIdleLocked(p)
		}
		s.idle = nil
		// Clients still in the backlog have started nothing: the backlog
		// watcher tells them, rather than starting workers only to stop
		// them.
		s.changed.Broadcast()
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
