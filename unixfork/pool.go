package unixfork

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// poolStats are the counters the status reports; Server.mu guards them.
type poolStats struct {
	startedAt                                      time.Time
	served, started, recycled, crashed             int64
	unresponsive, startTimeouts, maxClientsReached int64
	idleClosed                                     int64
	lastFailure                                    string
}

// The health watcher sleeps until the next thing it must check is due,
// not on a ticker. pingInterval is how long an idle worker may stay silent
// before it is pinged while clients come and go; quietPingInterval once
// none came for cmdserver.spare-idle-timeout: a per-user server idle for
// an hour then pings its pool every 5 s, and a stuck idle worker, which
// other idle workers cover for (it does not accept), is found a few
// seconds later. pingSlack lets one wake-up ping every worker that is
// nearly due, so that the pings of the pool's workers fall together.
// shrinkEvery paces the pool's shrinking, one worker at a time;
// healthMaxSleep bounds every sleep.
const (
	pingInterval      = time.Second
	quietPingInterval = 5 * time.Second
	pingSlack         = 100 * time.Millisecond
	shrinkEvery       = 250 * time.Millisecond
	healthMaxSleep    = 5 * time.Second
)

// watchHealth checks the workers whenever a check is due, until shutdown:
// start timeouts, idle workers that stopped answering, and the shrinking
// of the pool.
func (s *Server) watchHealth() {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.healthKick:
		}
		s.mu.Lock()
		s.healthChecks++
		answer, next := s.checkHealthLocked(time.Now())
		s.healthAt = next
		s.mu.Unlock()
		if answer != nil {
			answerBacklog(int(s.backlog.Fd()), answer)
		}
		t.Reset(time.Until(next))
	}
}

// wakeHealthLocked has the health watcher check by at, if it would sleep
// past that: a worker just started or became idle brings its own
// deadline. s.mu must be held.
func (s *Server) wakeHealthLocked(at time.Time) {
	if !at.Before(s.healthAt) {
		return
	}
	s.healthAt = at
	select {
	case s.healthKick <- struct{}{}:
	default:
	}
}

// checkHealthLocked kills workers that are too slow to start or stopped
// answering, pings idle workers, and stops spare workers the pool no
// longer needs. It returns the error to answer waiting clients with, if a
// start timed out while no worker is ready for them or on its way, and
// when the next check is due. s.mu must be held.
func (s *Server) checkHealthLocked(now time.Time) (answer error, next time.Time) {
	next = now.Add(healthMaxSleep)
	dueBy := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	if s.closing {
		return nil, next
	}
	log := s.logger()
	onTheirWay := 0 // workers still starting within their time
	for p := range s.procs {
		if p.state != stateStarting || p.timedOut || s.settings.startTimeout <= 0 {
			continue
		}
		if deadline := p.startedAt.Add(s.settings.startTimeout); now.Before(deadline) {
			dueBy(deadline)
			onTheirWay++
			continue
		}
		p.timedOut = true
		s.stats.startTimeouts++
		s.failures++
		err := fmt.Errorf("a worker was not ready within cmdserver.worker-start-timeout=%s (the application's start-up hangs?) and was killed", s.settings.startTimeout)
		s.stats.lastFailure = err.Error()
		log.Error("worker start timed out; killing it", "pid", p.pid, "timeout", s.settings.startTimeout)
		p.signalGroup(sigKill)
		answer = err
	}
	if len(s.idle) > 0 || onTheirWay > 0 {
		// Waiting clients are not this worker's: any worker ready takes
		// them from the shared backlog, and one may still come.
		answer = nil
	}
	quietSince := s.lastAct
	if s.lastDry.After(quietSince) {
		quietSince = s.lastDry
	}
	quiet := now.Sub(quietSince) >= s.settings.spareIdle
	if s.settings.answerTimeout > 0 {
		interval := pingInterval
		if quiet {
			interval = quietPingInterval
		}
		for i := 0; i < len(s.idle); i++ {
			p := s.idle[i]
			switch {
			case !p.pingSent.IsZero() && now.Sub(p.pingSent) >= s.settings.answerTimeout:
				// Not ready in any useful sense (stopped, stuck): it
				// must not count as ready, or clients wait for it.
				log.Warn("idle worker stopped answering; replacing it", "pid", p.pid, "timeout", s.settings.answerTimeout)
				s.stats.unresponsive++
				s.idle = append(s.idle[:i], s.idle[i+1:]...)
				i--
				p.state = stateStopping
				p.signalGroup(sigKill) // SIGKILL ends a stopped process too
				s.refillLocked()
				continue
			case p.pingSent.IsZero() && now.Sub(p.heard) >= interval-pingSlack:
				if err := sendMsg(p.ctl, controlMsg{Type: msgPing}); err != nil {
					log.Debug("pinging worker", "pid", p.pid, "error", err)
				}
				p.pingSent = now
			}
			if p.pingSent.IsZero() {
				dueBy(p.heard.Add(interval))
				continue
			}
			// The answer does not wake the watcher: wake for the next
			// round of pings, when this one is likely answered by then,
			// else when the answer is overdue (in the future: an overdue
			// worker was killed above).
			nextRound, overdue := p.pingSent.Add(interval), p.pingSent.Add(s.settings.answerTimeout)
			if now.Before(nextRound) && nextRound.Before(overdue) {
				dueBy(nextRound)
			} else {
				dueBy(overdue)
			}
		}
	}
	// Shrink once no client came or went for a while, one worker every
	// shrinkEvery, down to the floor. Not while clients come and go: a
	// reused worker comes back to the pool after its client, and stopping
	// it only to start another for the next client would churn.
	if s.spareTarget > s.settings.minSpare || len(s.idle) > s.settings.minSpare {
		due := quietSince.Add(s.settings.spareIdle)
		if paced := s.lastShrink.Add(shrinkEvery); paced.After(due) {
			due = paced
		}
		if now.Before(due) {
			dueBy(due)
		} else {
			s.spareTarget = s.settings.minSpare
			if len(s.idle) > s.spareTarget {
				p := s.idle[0] // idle the longest
				s.idle = s.idle[1:]
				s.lastShrink = now
				log.Debug("stopping a spare worker", "pid", p.pid, "idle", len(s.idle), "spare_target", s.spareTarget)
				s.stopIdleLocked(p)
				if len(s.idle) > s.spareTarget {
					dueBy(now.Add(shrinkEvery))
				}
			}
		}
	}
	return answer, next
}

// evictIdleClientLocked asks the worker whose client has been idle the
// longest (as reported, after cmdserver.client-idle-timeout) to close that
// connection, for a client waiting at the cap. One at a time: the next
// only once the last has had its chance. s.mu must be held.
func (s *Server) evictIdleClientLocked() {
	var victim *proc
	now := time.Now()
	for p := range s.procs {
		if p.state != stateBusy || !p.hasClient {
			continue
		}
		if !p.evictSent.IsZero() {
			if now.Sub(p.evictSent) < time.Second {
				return // in flight
			}
			continue
		}
		if p.idleSince.IsZero() {
			continue
		}
		if victim == nil || p.idleSince.Before(victim.idleSince) {
			victim = p
		}
	}
	if victim == nil {
		return
	}
	victim.evictSent = now
	if err := sendMsg(victim.ctl, controlMsg{Type: msgEvict}); err != nil {
		s.logger().Debug("asking worker to close its idle client", "pid", victim.pid, "error", err)
		return
	}
	s.logger().Info("asked a worker to close its idle client: clients wait at max-clients",
		"pid", victim.pid, "idle", now.Sub(victim.idleSince).Round(time.Millisecond))
}

// statusLocked returns the pool's status; s.mu must be held.
func (s *Server) statusLocked() *Status {
	st := &Status{
		Idle:                len(s.idle),
		Starting:            s.starting,
		SpareTarget:         s.spareTarget,
		ClientsServed:       s.stats.served,
		ClientsActive:       s.active,
		WorkersStarted:      s.stats.started,
		WorkersRecycled:     s.stats.recycled,
		WorkersCrashed:      s.stats.crashed,
		WorkersUnresponsive: s.stats.unresponsive,
		StartTimeouts:       s.stats.startTimeouts,
		MaxClientsReached:   s.stats.maxClientsReached,
		IdleClientsClosed:   s.stats.idleClosed,
		MaxClients:          s.settings.maxClients,
		LastFailure:         s.stats.lastFailure,
		Uptime:              time.Since(s.stats.startedAt).Seconds(),
	}
	for p := range s.procs {
		if p.state == stateBusy && p.hasClient {
			st.Busy++
		}
	}
	if s.backlog != nil {
		if n, err := backlogLen(s.backlog); err == nil {
			st.ClientsWaiting = n
		} else {
			// At least one, if any: all poll can say.
			fds := []unix.PollFd{{Fd: int32(s.backlog.Fd()), Events: unix.POLLIN}}
			if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0 {
				st.ClientsWaiting = 1
			}
		}
	}
	return st
}

// isFDShortage reports whether err is the process (EMFILE) or the system
// (ENFILE) running out of file descriptors: temporary, unlike a broken
// binary.
func isFDShortage(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// fdShortageLocked backs off after a worker could not start for want of
// file descriptors, as net/http does for accept: doubling from 5 ms to at
// most 1 s. Clients keep waiting in the backlog rather than being turned
// away: descriptors come back as soon as a client leaves. s.mu must be
// held.
func (s *Server) fdShortageLocked(err error) {
	if s.fdBackoff == 0 {
		s.logger().Warn("out of file descriptors; waiting for some to free up before starting workers", "error", err)
	}
	s.fdBackoff = min(max(2*s.fdBackoff, 5*time.Millisecond), time.Second)
	s.stats.lastFailure = "out of file descriptors: " + err.Error()
	if s.fdBackoff >= time.Second && s.liveLocked() == 0 && s.backlog != nil {
		// Seconds of retries, and no worker left to free a descriptor:
		// the waiting clients would wait for nothing. Tell them why (if
		// a descriptor is left to accept them with).
		why := fmt.Errorf("the server cannot start a worker: %s; try again later", s.stats.lastFailure)
		s.logger().Error("no worker for waiting clients", "error", why)
		answerBacklog(int(s.backlog.Fd()), why)
	}
	if s.closing || s.fdWait != nil {
		return
	}
	s.fdWait = time.AfterFunc(s.fdBackoff, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fdWait = nil
		s.refillLocked()
	})
	s.notifyLocked()
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
