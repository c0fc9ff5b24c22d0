package unixfork

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// supervise runs the pool's timers: whenever something is due (a refill,
// a start timeout, a ping or its overdue answer, a shrink) it ticks the
// pool and carries out what it decided, then sleeps until the pool's next
// deadline or an event that moved it earlier (tickKick). It returns at
// shutdown.
func (s *Server) supervise() {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.tickKick:
		}
		var next time.Time
		s.event(func(pl *pool, now time.Time) {
			pl.tick(now)
			next = pl.wakeAt
		})
		t.Reset(time.Until(next))
	}
}

// statusLocked returns the pool's status but for the clients waiting,
// which addWaiting fills in with the lock released; s.mu must be held.
func (s *Server) statusLocked(now time.Time) *Status {
	pl := s.pool
	var last string
	if !pl.stats.lastRefresh.IsZero() {
		last = pl.stats.lastRefresh.Format(time.RFC3339Nano)
	}
	return &Status{
		LastRefresh:         last,
		Idle:                len(pl.idle),
		Busy:                pl.active(),
		Starting:            pl.starting(),
		SpareTarget:         pl.spareTarget,
		ClientsServed:       pl.stats.served,
		ClientsActive:       pl.active(),
		WorkersStarted:      pl.stats.started,
		WorkersRecycled:     pl.stats.recycled,
		WorkersCrashed:      pl.stats.crashed,
		WorkersUnresponsive: pl.stats.unresponsive,
		StartTimeouts:       pl.stats.startTimeouts,
		MaxClientsReached:   pl.stats.maxClientsReached,
		IdleClientsClosed:   pl.stats.idleClosed,
		MaxClients:          s.settings.maxClients,
		LastFailure:         pl.stats.lastFailure,
		Uptime:              now.Sub(pl.stats.startedAt).Seconds(),
		PID:                 os.Getpid(),
		StartedAt:           pl.stats.startedAt.Format(time.RFC3339Nano),
		Binary:              s.binary.exe,
		Generation:          pl.gen,
		Refreshes:           pl.stats.refreshes,
		RefreshCause:        pl.stats.refreshCause,
	}
}

// addWaiting counts the clients waiting in the listen backlog into st.
func (s *Server) addWaiting(st *Status) {
	if s.backlog == nil {
		return
	}
	if n, err := backlogLen(s.backlog); err == nil {
		st.ClientsWaiting = n
		return
	}
	// At least one, if any: all poll can say.
	fds := []unix.PollFd{{Fd: int32(s.backlog.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0 {
		st.ClientsWaiting = 1
	}
}

// status returns the pool's status.
func (s *Server) status() *Status {
	s.mu.Lock()
	st := s.statusLocked(time.Now())
	s.mu.Unlock()
	s.addWaiting(st)
	s.addFreshness(st)
	addBinary(st)
	return st
}

// isFDShortage reports whether err is the process (EMFILE) or the system
// (ENFILE) running out of file descriptors: temporary, unlike a broken
// binary.
func isFDShortage(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// exitReason describes why worker p died before it was ready: its exit
// status and the last line it wrote.
func (s *Server) exitReason(p *proc) string {
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
	status := "still running"
	select {
	case <-p.exited:
		status = p.cmd.ProcessState.String()
		// Its last words may still be in the pipe: the reason is the
		// line it wrote before it died (the pipe is closed at most a
		// second after the exit, see exec).
		if p.drained != nil {
			<-p.drained
		}
	default:
	}
	reason := fmt.Sprintf("worker (pid %d) exited before it was ready (%s)", p.pid, status)
	if l := p.lastLine.Load(); l != nil {
		reason += ": " + lineText(*l)
	}
	return reason
}

// lineText turns a worker's JSON log line back into text.
func lineText(line string) string {
	var m map[string]any
	if len(line) > 0 && line[0] == '{' && json.Unmarshal([]byte(line), &m) == nil {
		if msg, ok := m["@message"].(string); ok {
			if e, ok := m["error"].(string); ok {
				return msg + ": " + e
			}
			return msg
		}
	}
	return line
}
