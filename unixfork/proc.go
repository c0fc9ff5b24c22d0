package unixfork

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/clientpage"
	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/internal/selfexe"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

const (
	sigTerm = unix.SIGTERM
	sigKill = unix.SIGKILL
)

// proc is the master's handle on one worker process; the pool's record
// of it is w (policy.go). shells is guarded by Server.mu.
type proc struct {
	w        *worker
	cmd      *exec.Cmd
	pid      int
	ctl      *net.UnixConn
	exited   chan struct{}          // closed once Wait has returned
	lastLine atomic.Pointer[string] // last line of its output
	drained  chan struct{}          // closed once its output is read to the end
	// spoke is set by its first message: one that dies before has died
	// in its program's package initialisation (startFailure).
	spoke atomic.Bool
	// early is the start of its output (startOutputMax at most), for
	// startFailure.
	earlyMu sync.Mutex
	early   []byte
	// shells are the process groups of the shells the worker reported
	// running: hung up by the master if the worker dies with them.
	shells map[int]struct{}
}

// procOrNil is w's process, nil before it runs (or in the policy's
// tests).
func (w *worker) procOrNil() *proc {
	if w == nil {
		return nil
	}
	return w.proc
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

// startWorker starts the process of worker w and owns its control socket
// until the process is gone. It is counted in s.wg by takeLocked.
func (s *Server) startWorker(w *worker, rehearse bool) {
	defer s.wg.Done()
	p, err := s.exec()
	if err != nil {
		s.event(func(pl *pool, now time.Time) { pl.startFailed(w, err, isFDShortage(err), now) })
		return
	}
	p.w = w
	var keys []string
	s.mu.Lock()
	s.procs[p] = struct{}{}
	w.proc = p
	s.pool.launched(w, p.pid, time.Now())
	keys = s.keys.list()
	acts := s.takeLocked()
	s.mu.Unlock()
	s.carryOut(acts, true)
	init := s.settings.init.message(keys, logLevel(s.logger()), rehearse, w.lazy)
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
	env := envlist.Set(os.Environ(), workerEnv, "1")
	if len(s.WatchFiles) > 0 {
		// Stamped before its initialisation reads them (fresh.StampsEnv).
		env = envlist.Set(env, fresh.StampsEnv, fresh.Stamps(s.WatchFiles))
	}
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       []string{args0},
		Env:        env,
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
	drained := make(chan struct{})
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, ctl: ctl, exited: make(chan struct{}), drained: drained}
	log := s.logger()
	log.Info(fmt.Sprintf("forked worker process (pid=%d)", p.pid))
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(drained)
		relayOutput(pr, log.Named("worker").With("pid", p.pid), func(line string) {
			p.lastLine.Store(&line)
			p.keepEarly(line)
		})
	}()
	go func() {
		defer s.wg.Done()
		err := cmd.Wait()
		close(p.exited)
		status := "exit status 0"
		if err != nil {
			status = err.Error()
		}
		// Commands the worker left running may hold the pipe: read what
		// is there, then stop. Its exit is logged after its last lines.
		select {
		case <-drained:
		case <-time.After(time.Second):
		}
		log.Info(fmt.Sprintf("worker process exited (pid=%d)", p.pid), "status", status)
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
	w := p.w
	buf := make([]byte, maxControlMsg)
	// held is the worker's client, handed over with 'accepted' and given
	// back with 'done' (handoff.go).
	var held *heldClient
	for {
		m, fds, err := recvMsgFDs(p.ctl, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Warn("reading from worker", "pid", p.pid, "error", err)
			}
			break
		}
		p.spoke.Store(true)
		switch {
		case m.Type == msgAccepted && len(fds) == 2:
			if held != nil {
				held.close()
			}
			held, fds = &heldClient{conn: fds[0], page: fds[1]}, nil
		case m.Type == msgRelay && len(fds) == 2 && held != nil:
			held.setRelay(fds)
			fds = nil
			continue
		case m.Type == msgDone && held != nil:
			held.close()
			held = nil
		}
		fdpass.Close(fds) // any not taken above
		switch m.Type {
		case msgPong:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.pong(w) })
		case msgIdle:
			s.event(func(pl *pool, now time.Time) {
				pl.heard(w, now)
				var since time.Time
				if m.IdleMS >= 0 {
					since = now.Add(-time.Duration(m.IdleMS) * time.Millisecond)
				}
				pl.clientIdle(w, since)
			})
		case msgEvicted:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.evicted() })
		case msgStatus:
			var st *Status
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); st = s.statusLocked(now) })
			s.addWaiting(st)
			s.addFreshness(st)
			addBinary(st)
			if err := sendMsg(p.ctl, controlMsg{Type: msgStatus, Pool: st}); err != nil {
				log.Debug("answering status request", "pid", p.pid, "error", err)
			}
		case msgReady:
			if m.InitError != "" {
				log.Error("worker could not build its handler; its clients get the error", "pid", p.pid, "error", m.InitError)
			}
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.ready(w, now) })
		case msgAccepted:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.accepted(w, now) })
		case msgDone:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.done(w, m.Recycle, now) })
		case msgKey:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); s.keys.add(m.Key) })
		case msgStale:
			// The worker rebuilt its own Handler; the workers built
			// from the same old state are the pool's to replace.
			log.Info("worker found its warm state stale and rebuilt it", "pid", p.pid, "changed", m.Key)
			s.workerStale(w, m.Key)
		case msgHandOver:
			s.quietEvent(func(pl *pool, now time.Time) { pl.heard(w, now) })
			go func() {
				err := s.HandOver(context.Background(), m.Key)
				if err == nil || errors.Is(err, ErrServerClosed) {
					return
				}
				log.Error("a worker found the binary changed but the server cannot hand over to it", "error", err)
				// Its client is waiting for the answer: it then starts
				// a server of its own, whose start fails as a plain run
				// of the new binary does.
				if err := sendMsg(p.ctl, controlMsg{Type: msgHandOverFailed, Key: err.Error()}); err != nil {
					log.Debug("telling the worker the hand-over failed", "pid", p.pid, "error", err)
				}
			}()
		case msgBuilt:
			s.event(func(pl *pool, now time.Time) { pl.heard(w, now); pl.built() })
		case msgDeps:
			s.quietEvent(func(pl *pool, now time.Time) { pl.heard(w, now) })
			s.addDeps(w, m.Deps)
		case msgShell, msgShellEnd:
			s.event(func(pl *pool, now time.Time) {
				pl.heard(w, now)
				if m.Type == msgShellEnd {
					delete(p.shells, m.PGID)
				} else if m.PGID > 0 {
					if p.shells == nil {
						p.shells = make(map[int]struct{})
					}
					p.shells[m.PGID] = struct{}{}
				}
			})
		default:
			log.Warn("unexpected message from worker", "pid", p.pid, "type", m.Type)
		}
	}
	p.ctl.Close()
	if held != nil {
		// The worker died with its client: answer it before the pool
		// counts the worker gone and starts its replacement.
		s.answerForDead(p, held)
	}
	s.mu.Lock()
	explain := s.pool.needsExitReason(w)
	s.mu.Unlock()
	var reason string
	var failure *startFailure
	if explain {
		reason = s.exitReason(p)
		failure = p.startFailure()
	}
	s.event(func(pl *pool, now time.Time) {
		if failure != nil {
			pl.lastStart = failure
		}
		pl.gone(w, reason, now)
	})
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

// startOutputMax bounds what the master keeps of a worker's first output.
const startOutputMax = 64 << 10

// keepEarly keeps line (trimmed, as relayOutput gives it) while the
// worker's output is short.
func (p *proc) keepEarly(line string) {
	if p.spoke.Load() {
		return // past its initialisation: nothing more to keep
	}
	p.earlyMu.Lock()
	defer p.earlyMu.Unlock()
	if len(p.early)+len(line)+1 <= startOutputMax {
		p.early = append(append(p.early, line...), '\n')
	}
}

// startFailure is how a worker that died in its program's package
// initialisation ended: what a plain run of the program would have
// printed (its lines, stdout's and stderr's as one) and its status.
type startFailure struct {
	output []byte
	status int
}

// startFailure describes p's end if it died before it sent any message
// (exitReason has waited for its exit and output): nil otherwise.
func (p *proc) startFailure() *startFailure {
	if p.spoke.Load() {
		return nil
	}
	select {
	case <-p.exited:
	default:
		return nil
	}
	p.earlyMu.Lock()
	defer p.earlyMu.Unlock()
	return &startFailure{output: bytes.Clone(p.early), status: clientpage.DeathStatus(p.cmd.ProcessState)}
}
