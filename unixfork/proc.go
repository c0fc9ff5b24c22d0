package unixfork

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/selfexe"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

type workerState int

const (
	stateStarting workerState = iota // started, building its warm state
	stateIdle                        // ready, in Server.idle
	stateBusy                        // serving a client (or between clients)
	stateStopping                    // told to exit
	stateGone                        // its control socket reached end of input
)

const (
	sigTerm = unix.SIGTERM
	sigKill = unix.SIGKILL
)

// proc is the master's handle on one worker process. Its fields after pid
// are guarded by Server.mu.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	ctl    *net.UnixConn
	exited chan struct{} // closed once Wait has returned

	state     workerState
	hasClient bool // a client counted in Server.active is with this worker

	startedAt time.Time
	timedOut  bool      // killed for not being ready in time
	recycling bool      // exits after its client: not coming back
	heard     time.Time // last message from the worker
	pingSent  time.Time // unanswered ping, zero if none
	// idleSince is when its client went idle, as the worker reported
	// (zero: not idle); evictSent when the master asked it to close that
	// client.
	idleSince, evictSent time.Time
	lastLine             atomic.Pointer[string] // last line of its output
	drained              chan struct{}          // closed once its output is read to the end
	// stopped is set once the master has shut down its side of the
	// socketpair (stopIdleLocked): the worker exits, at the latest after
	// a client it took meanwhile. spare, closed, cancels the kill of a
	// stopped worker that turns out to have taken a client (accepted).
	stopped bool
	spare   chan struct{}
	// shells are the process groups of the shells the worker reported
	// running: hung up by the master if the worker dies with them.
	shells map[int]struct{}
}

// signalGroup signals the worker's process group (it leads its own, so
// this reaches the commands it started too). Harmless after exit.
func (p *proc) signalGroup(sig unix.Signal) {
	select {
	case <-p.exited:
		return // the pid may already belong to someone else
	default:
	}
	_ = unix.Kill(-p.pid, sig)
}

// refillLocked starts workers until the ready and starting ones make up
// the pool size, within the cap on clients; s.mu must be held.
func (s *Server) refillLocked() {
	s.notifyLocked()
	if !s.started || s.closing {
		return
	}
	if s.deficitLocked() <= 0 || s.retry != nil || s.fdWait != nil {
		return
	}
	if s.failures > 0 {
		// Back off after workers died young, so that a broken binary or
		// handler does not turn into a fork loop.
		delay := min(50*time.Millisecond<<min(s.failures-1, 5), time.Second)
		s.retry = time.AfterFunc(delay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.retry = nil
			s.failures = min(s.failures, maxEarlyFailures-1) // let one more try through
			if !s.closing {
				s.startWorkersLocked(s.deficitLocked(), true)
			}
		})
		return
	}
	s.startWorkersLocked(s.deficitLocked(), true)
}

// deficitLocked is how many workers to start now for the pool: what it
// lacks of its spare target, within the cap on clients and the bound on
// parallel starts; s.mu must be held.
func (s *Server) deficitLocked() int {
	// Workers on their way back from a client count as spare: starting
	// another for each would grow the pool under a sequential loop.
	want := s.spareTarget - len(s.idle) - s.starting - s.returningLocked()
	return min(want, s.settings.maxClients-s.liveLocked(), s.settings.parallel-s.starting)
}

// maxEarlyFailures is how many workers in a row may die before ready
// before waiting clients are told so.
const maxEarlyFailures = 5

// startWorkersLocked starts n workers; s.mu must be held. Pool workers
// rehearse a session before they report ready; a worker started for a
// client already waiting skips that, since the client would wait for it.
func (s *Server) startWorkersLocked(n int, rehearse bool) {
	for ; n > 0; n-- {
		s.starting++
		s.wg.Add(1)
		go s.startWorker(rehearse)
	}
	s.notifyLocked()
}

// startWorker starts one worker process and owns its control socket until
// the process is gone.
func (s *Server) startWorker(rehearse bool) {
	defer s.wg.Done()
	p, err := s.exec()
	if err != nil {
		s.mu.Lock()
		s.starting--
		if isFDShortage(err) {
			s.fdShortageLocked(err)
		} else {
			s.logger().Error("cannot start a worker process", "error", err)
			s.failures++
			s.stats.lastFailure = "cannot start a worker process: " + err.Error()
			s.refillLocked()
		}
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.fdBackoff = 0
	s.stats.started++
	s.procs[p] = struct{}{}
	if s.settings.startTimeout > 0 {
		s.wakeHealthLocked(p.startedAt.Add(s.settings.startTimeout))
	}
	keys := s.keys.list()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		p.signalGroup(sigTerm)
	}
	init := s.settings.init.message(keys, logLevel(s.logger()), rehearse)
	if err := sendMsg(p.ctl, init); err != nil {
		s.logger().Error("sending init to worker", "pid", p.pid, "error", err)
	}
	s.readControl(p)
	s.hangUpLeftShells(p)
}

// exec starts the process; the master's end of the socketpair becomes
// p.ctl, the worker's is its fd 3; the listening socket is its fd 4.
func (s *Server) exec() (*proc, error) {
	fds, err := controlSocketpair()
	if err != nil {
		return nil, fmt.Errorf("creating socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "unixfork-master"), os.NewFile(uintptr(fds[1]), "unixfork-worker")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("opening socketpair: %w", err)
	}
	ctl := fc.(*net.UnixConn)
	// The worker's stdout and stderr go to one pipe, drained into our log:
	// a command writing to fd 1 or 2 directly must not block on it.
	pr, pw, err := os.Pipe()
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("creating output pipe: %w", err)
	}
	args0 := s.Args0
	if args0 == "" {
		args0 = os.Args[0]
	}
	exe, err := executable()
	if err != nil {
		ctl.Close()
		pr.Close()
		pw.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       []string{args0},
		Env:        envlist.Set(os.Environ(), workerEnv, "1"),
		Stdout:     pw,
		Stderr:     pw,
		ExtraFiles: []*os.File{theirs, s.backlog},
		// Its own process group from the start, so kill(-pid) works even
		// before the worker's own setpgid(0,0).
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = startWorkerProcess(cmd) // it dies with us where the platform allows
	pw.Close()
	if err != nil {
		ctl.Close()
		pr.Close()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	now := time.Now()
	drained := make(chan struct{})
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, ctl: ctl, exited: make(chan struct{}), drained: drained, state: stateStarting, startedAt: now, heard: now}
	log := s.logger()
	log.Info(fmt.Sprintf("forked worker process (pid=%d)", p.pid))
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(drained)
		relayOutput(pr, log.Named("worker").With("pid", p.pid), func(line string) { p.lastLine.Store(&line) })
	}()
	go func() {
		defer s.wg.Done()
		err := cmd.Wait()
		close(p.exited)
		status := "exit status 0"
		if err != nil {
			status = err.Error()
		}
		log.Info(fmt.Sprintf("worker process exited (pid=%d)", p.pid), "status", status)
		// Commands the worker left running may hold the pipe: read what
		// is there, then stop.
		select {
		case <-drained:
		case <-time.After(time.Second):
		}
		pr.Close()
		<-drained
		s.mu.Lock()
		delete(s.procs, p)
		s.mu.Unlock()
	}()
	return p, nil
}

// readControl handles the worker's messages until its end closes.
func (s *Server) readControl(p *proc) {
	log := s.logger()
	buf := make([]byte, maxControlMsg)
	for {
		m, err := recvMsg(p.ctl, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Warn("reading from worker", "pid", p.pid, "error", err)
			}
			break
		}
		s.mu.Lock()
		p.heard = time.Now()
		s.mu.Unlock()
		switch m.Type {
		case msgPong:
			s.mu.Lock()
			p.pingSent = time.Time{}
			s.mu.Unlock()
		case msgIdle:
			s.mu.Lock()
			if m.IdleMS < 0 || !p.hasClient {
				p.idleSince, p.evictSent = time.Time{}, time.Time{}
			} else {
				p.idleSince = time.Now().Add(-time.Duration(m.IdleMS) * time.Millisecond)
				p.evictSent = time.Time{}
			}
			s.mu.Unlock()
		case msgEvicted:
			s.mu.Lock()
			s.stats.idleClosed++
			s.mu.Unlock()
		case msgStatus:
			s.mu.Lock()
			st := s.statusLocked()
			err := sendMsg(p.ctl, controlMsg{Type: msgStatus, Pool: st})
			s.mu.Unlock()
			if err != nil {
				log.Debug("answering status request", "pid", p.pid, "error", err)
			}
		case msgReady:
			if m.InitError != "" {
				log.Error("worker could not build its handler; its clients get the error", "pid", p.pid, "error", m.InitError)
			}
			s.ready(p)
		case msgAccepted:
			s.accepted(p)
		case msgDone:
			s.mu.Lock()
			s.endClientLocked(p)
			switch m.Recycle {
			case "":
			case recycleExit:
				p.recycling = true // not coming back
				log.Debug("worker exits after its client", "pid", p.pid)
			default:
				p.recycling = true
				s.stats.recycled++
				log.Debug("worker recycled", "pid", p.pid, "reason", m.Recycle)
			}
			s.mu.Unlock()
		case msgKey:
			s.mu.Lock()
			s.keys.add(m.Key)
			s.mu.Unlock()
		case msgShell, msgShellEnd:
			s.mu.Lock()
			if m.Type == msgShellEnd {
				delete(p.shells, m.PGID)
			} else if m.PGID > 0 {
				if p.shells == nil {
					p.shells = make(map[int]struct{})
				}
				p.shells[m.PGID] = struct{}{}
			}
			s.mu.Unlock()
		default:
			log.Warn("unexpected message from worker", "pid", p.pid, "type", m.Type)
		}
	}
	p.ctl.Close()
	s.mu.Lock()
	state, timedOut := p.state, p.timedOut
	s.mu.Unlock()
	var reason string
	if state == stateStarting && !timedOut {
		reason = s.exitReason(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p.state {
	case stateStarting:
		s.starting--
		if !p.timedOut { // a timeout is counted and explained already
			s.failures++
			s.stats.crashed++
			s.stats.lastFailure = reason
			log.Warn("worker exited before it was ready", "pid", p.pid, "reason", reason)
		}
	case stateBusy:
		if p.hasClient {
			s.stats.crashed++
		}
	case stateIdle:
		for i, q := range s.idle {
			if q == p {
				s.idle = append(s.idle[:i], s.idle[i+1:]...)
				break
			}
		}
	}
	p.state = stateGone
	s.endClientLocked(p) // a crash ends its client's session
	s.refillLocked()
}

// hangUpLeftShells ends the shells a dead worker left running: a worker
// hangs up its own when it exits, unless it was killed outright (the
// master's SIGKILL at the end of a shutdown's grace, the OOM killer), and
// a command's processes must not outlive their client. It runs once the
// pool has counted the worker gone, so that it delays nobody.
func (s *Server) hangUpLeftShells(p *proc) {
	s.mu.Lock()
	pgids := make([]int, 0, len(p.shells))
	for pgid := range p.shells {
		pgids = append(pgids, pgid)
	}
	p.shells = nil
	s.mu.Unlock()
	if len(pgids) == 0 {
		return
	}
	// The control socket closes as the worker dies; make sure it did, so
	// that these groups are no longer its business.
	select {
	case <-p.exited:
	case <-time.After(time.Second):
	}
	s.logger().Warn("worker died with shell commands running; hanging them up", "pid", p.pid, "groups", pgids)
	wire.HangUpGroups(pgids, shellHangupGrace)
}

// ready records that a worker is accepting clients: it joins the pool
// or, when shutting down, is told to exit.
func (s *Server) ready(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.state == stateStarting {
		s.starting--
		s.failures = 0
	}
	p.pingSent = time.Time{}
	if p.stopped || p.state == stateStopping {
		// Told to exit (it came back from a client before it read the
		// end of input): it exits on its own.
		return
	}
	if s.closing {
		s.stopIdleLocked(p)
	} else {
		p.state = stateIdle
		s.idle = append(s.idle, p)
		if s.settings.answerTimeout > 0 {
			s.wakeHealthLocked(p.heard.Add(pingInterval))
		}
	}
	s.refillLocked()
}

// executable is the binary workers run: this one (see package selfexe for
// what a rebuild on disk does on each platform).
func executable() (string, error) { return selfexe.Path() }

func configOptions(cfg *protocol.Config) []string {
	if cfg == nil {
		return nil
	}
	var opts []string
	for _, k := range cfg.Keys() {
		v, _ := cfg.Lookup(k)
		opts = append(opts, k+"="+v)
	}
	return opts
}

func logLevel(l hclog.Logger) string {
	return l.GetLevel().String()
}

// relayOutput copies a worker's stdout/stderr into log, line by line. JSON
// lines from the worker's own hclog logger keep their level, message and
// fields; anything else (abort messages, a command writing to fd 2) is
// logged as it is.
func relayOutput(r io.Reader, log hclog.Logger, last func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			relayLine(log, line)
			if t := strings.TrimSpace(string(line)); t != "" {
				last(t)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func relayLine(log hclog.Logger, line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return
	}
	var m map[string]any
	if line[0] == '{' && json.Unmarshal(line, &m) == nil {
		if msg, ok := m["@message"].(string); ok {
			level := hclog.Info
			if l, ok := m["@level"].(string); ok {
				level = hclog.LevelFromString(l)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				if k == "" || k[0] != '@' {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			kv := make([]any, 0, 2*len(keys))
			for _, k := range keys {
				kv = append(kv, k, m[k])
			}
			log.Log(level, msg, kv...)
			return
		}
	}
	log.Info("stderr", "line", string(line))
}
