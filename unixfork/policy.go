package unixfork

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-hclog"
)

// This file is the pool's policy: which workers to start, ping, stop or
// kill, and what to tell clients waiting in the backlog. The pool is a
// plain value with no goroutines, processes, sockets or clock of its own:
// the Server feeds it events (a worker is ready, took a client, ended its
// session, a timer is due, clients wait) with the time, under Server.mu,
// and carries out the actions it returns once the lock is released.
//
// A worker's life, in the pool's eyes:
//
//	starting ─ready→ ready ─accepted→ busy ─done→ returning ─ready→ ready
//	                                       └done (recycle)→ recycling
//	ready ─stop (shrink, shutdown, old generation)→ stopping
//	starting, ready ─no answer in time→ stopping (killed)
//	stopping ─accepted (it took a client just before)→ busy, retiring
//	any ─control socket closed→ gone
//
// Generations: every worker belongs to the generation current when it
// was started (gen). Only the current generation counts towards the spare
// target; a worker of an older one serves while no newer one is ready,
// and is stopped as soon as one is (busy ones finish their client and
// retire). newGeneration starts one: the pool warms a fresh set of
// workers while the old one drains.

// workerState is where a worker is in its life (see above).
type workerState int

const (
	stateStarting  workerState = iota // started, building its warm state
	stateReady                        // accepting clients, in pool.idle
	stateBusy                         // serving a client
	stateReturning                    // its client left; restoring its state to come back
	stateRecycling                    // its client left; it exits and is replaced
	stateStopping                     // told to exit, or killed
	stateGone                         // its control socket reached end of input
)

var stateNames = [...]string{"starting", "ready", "busy", "returning", "recycling", "stopping", "gone"}

func (st workerState) String() string { return stateNames[st] }

// worker is the pool's record of one worker process.
type worker struct {
	state workerState
	gen   int // the generation it was started in
	pid   int // 0 until its process runs
	proc  *proc

	startedAt time.Time // when its process started (zero before)
	heard     time.Time // last message from it
	pingSent  time.Time // unanswered ping, zero if none
	// idleSince is when its client went idle, as the worker reported
	// (zero: not idle); evictSent when it was asked to close that client.
	idleSince, evictSent time.Time
	// retiring: it exits after its client (it was stopped while it took
	// one): not coming back.
	retiring bool
	// killed: for not being ready, or not answering, in time; its end is
	// already counted and explained.
	killed bool
	// discard: its generation went stale before its process ran; it is
	// killed as soon as it does.
	discard bool
	// lazy: it builds its Handler in its client's first command (see
	// pool.lazy).
	lazy bool
}

// actionKind is what the Server is to do.
type actionKind int

const (
	actStart  actionKind = iota // start a process for w (rehearse: a pool worker, not one a client waits for)
	actPing                     // ping w
	actStop                     // stop idle worker w: drain it first (shutdown), shut down the master's side of its socket, kill it if it has not exited in stopGrace while still stopping
	actKill                     // SIGKILL w's process group
	actTerm                     // SIGTERM w's process group
	actDrain                    // ask w to end its session after the running command
	actEvict                    // ask w to close its idle client (idle: for how long)
	actAnswer                   // accept the clients in the backlog and tell them err
	actLog                      // write a log line
)

// action is one thing the pool asks the Server to do.
type action struct {
	kind     actionKind
	w        *worker
	rehearse bool          // actStart
	drain    bool          // actStop
	idle     time.Duration // actEvict
	err      error         // actAnswer
	start    *startFailure // actAnswer: how the workers' start ended, if known
	level    hclog.Level   // actLog
	msg      string        // actLog
	args     []any         // actLog
}

// poolStats are the counters the status reports.
type poolStats struct {
	startedAt                                      time.Time
	served, started, recycled, crashed             int64
	unresponsive, startTimeouts, maxClientsReached int64
	idleClosed                                     int64
	lastFailure                                    string
	// refreshes counts the stale generations replaced; lastRefresh and
	// refreshCause say when the last was and what changed.
	refreshes    int64
	lastRefresh  time.Time
	refreshCause string
}

// Timing of the policy. The supervisor sleeps until the next thing is
// due, not on a ticker. pingInterval is how long an idle worker may stay
// silent before it is pinged while clients come and go; quietPingInterval
// once none came for cmdserver.spare-idle-timeout: a per-user server idle
// for an hour then pings its pool every 5 s. A stuck idle worker, which
// does not accept, is found sooner when a client waits for it: see
// waitingWhileReady. pingSlack lets one wake-up ping every worker that is
// nearly due, so that the pings of the pool's workers fall together.
// shrinkEvery paces the pool's shrinking, one worker at a time;
// healthMaxSleep bounds every sleep.
const (
	pingInterval      = time.Second
	quietPingInterval = 5 * time.Second
	pingSlack         = 100 * time.Millisecond
	shrinkEvery       = 250 * time.Millisecond
	healthMaxSleep    = 5 * time.Second
	// dryAfter is how long a client must wait with no worker ready
	// before the pool grows.
	dryAfter = 5 * time.Millisecond
	// refillDelay is how long after a worker took a client the pool is
	// refilled: starting a process competes for the CPU with the
	// client's first request, which on a small machine doubles the time
	// it waits. One refill serves every client accepted meanwhile.
	refillDelay = 10 * time.Millisecond
	// stuckAfter: a client that still waits this long after it was seen
	// in the backlog, while workers count as ready and none took a
	// client meanwhile, is evidence that those workers do not accept.
	stuckAfter = 200 * time.Millisecond
	// stopGrace is how long a stopped worker has to exit before its
	// process group is killed.
	stopGrace = 2 * time.Second
)

// maxEarlyFailures is how many workers in a row may die before ready
// before waiting clients are told so.
const maxEarlyFailures = 5

// pool is the policy's state. The Server guards it with its mutex.
type pool struct {
	settings settings
	started  bool // begin was called: refills start workers
	closing  bool
	gen      int // the current generation
	// staleGen: the workers of generations below it were built from
	// state that has changed since; none of them takes another client.
	staleGen int
	// lazy is set when a worker exited in its constructor (an os.Exit,
	// a log.Fatal: a plain program's start-up failure): workers are then
	// started lazy, to build in their client's first command, which ends
	// with the constructor's status and output as a plain run would.
	// The first lazy worker whose Handler builds (built) clears it.
	lazy bool

	workers map[*worker]struct{} // every worker not gone
	idle    []*worker            // ready workers, most recent last
	lastAct time.Time            // last accept or client end
	// failures counts consecutive workers that died before ready;
	// retryAt is the pending refill after them (zero: none).
	failures int
	retryAt  time.Time
	// triedForClients: after failures reached maxEarlyFailures, one
	// worker was started at once for the clients waiting, before they
	// are answered with the reason (what broke the workers, a file their
	// initialisation reads, may have been mended since).
	triedForClients bool
	// lastStart is how the last worker that died in its program's
	// initialisation ended (nil since one got ready): waiting clients
	// are answered with it as a plain run would have ended.
	lastStart *startFailure
	// refillAt is the pending refill after a worker took a client.
	refillAt time.Time
	// fdWaitAt is the pending retry after the master ran out of file
	// descriptors; fdBackoff its delay.
	fdWaitAt  time.Time
	fdBackoff time.Duration

	// The dynamic pool: spareTarget spare (idle or starting) workers are
	// kept, between settings.minSpare and settings.maxSpare; it grows
	// when a client waits with no worker ready (lastDry) and shrinks
	// after settings.spareIdle without that. lastShrink paces shrinking.
	spareTarget int
	lastDry     time.Time
	lastShrink  time.Time
	// waitSince is since when a client waits with no worker ready; atCap
	// is set while clients wait with every worker slot taken.
	waitSince time.Time
	atCap     bool
	// suspectAt is when a client was seen waiting while workers counted
	// as ready, suspectServed the served count then (waitingWhileReady).
	suspectAt     time.Time
	suspectServed int64

	// singleUse is set once a worker exited after its one client, as
	// every worker of a non-Reusable Handler does: each accept then uses
	// a worker up, and the pool must start workers as fast as clients
	// take them (see keepUp). startTook is the recent time from a
	// worker's start to its ready (a moving average); accepts are the
	// recent accepts' times, within keepUpWindow.
	singleUse bool
	startTook time.Duration
	accepts   []time.Time

	// wakeAt is when tick is due next; woken is set when an event moved
	// it earlier (the Server then wakes its supervisor).
	wakeAt time.Time
	woken  bool
	checks int // how many ticks ran (tests)
	stats  poolStats

	out []action
}

func newPool(st settings, now time.Time) *pool {
	return &pool{
		settings:    st,
		workers:     make(map[*worker]struct{}),
		spareTarget: st.minSpare,
		lastAct:     now,
		stats:       poolStats{startedAt: now},
	}
}

// take returns the actions decided so far and forgets them.
func (p *pool) take() []action {
	out := p.out
	p.out = nil
	return out
}

func (p *pool) do(a action) { p.out = append(p.out, a) }

func (p *pool) log(level hclog.Level, msg string, args ...any) {
	p.do(action{kind: actLog, level: level, msg: msg, args: args})
}

// wake has tick run by at, if it would run later.
func (p *pool) wake(at time.Time) {
	if p.wakeAt.IsZero() || at.Before(p.wakeAt) {
		p.wakeAt = at
		p.woken = true
	}
}

// count returns how many workers are in state st, of the current
// generation only if cur.
func (p *pool) count(st workerState, cur bool) int {
	n := 0
	for w := range p.workers {
		if w.state == st && (!cur || w.gen == p.gen) {
			n++
		}
	}
	return n
}

func (p *pool) starting() int { return p.count(stateStarting, false) }

// active is the number of clients being served.
func (p *pool) active() int { return p.count(stateBusy, false) }

// live counts the workers that are starting, ready, serving or on their
// way out of a session: each holds or can hold a client, so their number
// is what cmdserver.max-clients caps.
func (p *pool) live() int {
	n := 0
	for w := range p.workers {
		if w.state != stateStopping {
			n++
		}
	}
	return n
}

// deficit is how many workers to start now for the pool: what the current
// generation lacks of the spare target, within the cap on clients and the
// bound on parallel starts. Workers on their way back from a client count
// as spare: starting another for each would grow the pool under a
// sequential loop.
func (p *pool) deficit() int {
	spare := p.count(stateStarting, true) + p.count(stateReturning, true)
	for _, w := range p.idle {
		if w.gen == p.gen {
			spare++
		}
	}
	return min(p.spareTarget-spare, p.settings.maxClients-p.live(), p.settings.parallel-p.starting())
}

// begin starts the pool once the socket accepts.
func (p *pool) begin(now time.Time) {
	p.started = true
	p.lastAct = now
	p.refill(now)
}

// refill starts workers until the spare ones make up the spare target;
// after workers died young it backs off first, so that a broken binary
// or handler does not turn into a fork loop.
func (p *pool) refill(now time.Time) {
	if !p.started || p.closing || p.deficit() <= 0 || !p.retryAt.IsZero() || !p.fdWaitAt.IsZero() {
		return
	}
	if p.failures > 0 {
		p.retryAt = now.Add(min(50*time.Millisecond<<min(p.failures-1, 5), time.Second))
		p.wake(p.retryAt)
		return
	}
	p.startWorkers(p.deficit(), true)
}

// startWorkers asks for n workers. Pool workers rehearse a session before
// they report ready; a worker started for a client already waiting skips
// that, since the client would wait for it.
func (p *pool) startWorkers(n int, rehearse bool) {
	for ; n > 0; n-- {
		w := &worker{state: stateStarting, gen: p.gen, lazy: p.lazy}
		p.workers[w] = struct{}{}
		p.do(action{kind: actStart, w: w, rehearse: rehearse})
	}
}

// startFailed: w's process could not be started.
func (p *pool) startFailed(w *worker, err error, fdShortage bool, now time.Time) {
	delete(p.workers, w)
	w.state = stateGone
	if !fdShortage {
		p.log(hclog.Error, "cannot start a worker process", "error", err)
		p.failures++
		p.stats.lastFailure = "cannot start a worker process: " + err.Error()
		p.refill(now)
		return
	}
	// Back off as net/http does for accept: doubling from 5 ms to at most
	// 1 s. Clients keep waiting in the backlog rather than being turned
	// away: descriptors come back as soon as a client leaves.
	if p.fdBackoff == 0 {
		p.log(hclog.Warn, "out of file descriptors; waiting for some to free up before starting workers", "error", err)
	}
	p.fdBackoff = min(max(2*p.fdBackoff, 5*time.Millisecond), time.Second)
	p.stats.lastFailure = "out of file descriptors: " + err.Error()
	if p.fdBackoff >= time.Second && p.live() == 0 {
		// Seconds of retries, and no worker left to free a descriptor:
		// the waiting clients would wait for nothing. Tell them why (if
		// a descriptor is left to accept them with).
		why := fmt.Errorf("the server cannot start a worker: %s; try again later", p.stats.lastFailure)
		p.log(hclog.Error, "no worker for waiting clients", "error", why)
		p.do(action{kind: actAnswer, err: why})
	}
	if p.closing || !p.fdWaitAt.IsZero() {
		return
	}
	p.fdWaitAt = now.Add(p.fdBackoff)
	p.wake(p.fdWaitAt)
}

// launched: w's process runs as pid.
func (p *pool) launched(w *worker, pid int, now time.Time) {
	w.pid, w.startedAt, w.heard = pid, now, now
	p.fdBackoff = 0
	p.stats.started++
	if p.settings.startTimeout > 0 {
		p.wake(now.Add(p.settings.startTimeout))
	}
	if p.closing && w.state == stateStarting {
		w.state = stateStopping // no client yet: nothing to finish
		p.do(action{kind: actTerm, w: w})
	}
	if w.discard && w.state == stateStarting {
		p.stop(w)
	}
}

// heard: a message came from w.
func (p *pool) heard(w *worker, now time.Time) { w.heard = now }

// pong: w answered its ping.
func (p *pool) pong(w *worker) { w.pingSent = time.Time{} }

// ready: w accepts clients, for the first time or back from one.
func (p *pool) ready(w *worker, now time.Time) {
	if w.state == stateStarting {
		p.failures, p.triedForClients, p.lastStart = 0, false, nil
		if !w.startedAt.IsZero() {
			took := now.Sub(w.startedAt)
			if p.startTook == 0 {
				p.startTook = took
			} else {
				p.startTook = (3*p.startTook + took) / 4
			}
		}
	}
	w.pingSent = time.Time{}
	switch {
	case w.state == stateStopping || w.state == stateGone:
		// Told to exit (it came back from a client before it read the
		// end of input): it exits on its own.
		return
	case w.retiring:
		w.state = stateStopping
		return
	case p.closing:
		p.stop(w)
		return
	case w.gen < p.staleGen, w.gen != p.gen && p.idleOfGen(p.gen) > 0:
		p.stop(w) // a newer generation serves, or its state is stale
		return
	}
	w.state = stateReady
	p.idle = append(p.idle, w)
	if p.settings.answerTimeout > 0 {
		p.wake(w.heard.Add(pingInterval))
	}
	if w.gen == p.gen {
		p.retireOld()
	}
	p.refill(now)
}

func (p *pool) idleOfGen(gen int) int {
	n := 0
	for _, w := range p.idle {
		if w.gen == gen {
			n++
		}
	}
	return n
}

// retireOld stops the idle workers of older generations, now that one of
// the current generation is ready.
func (p *pool) retireOld() {
	for i := 0; i < len(p.idle); i++ {
		if w := p.idle[i]; w.gen != p.gen {
			p.removeIdle(w)
			i--
			p.stop(w)
		}
	}
}

// newGeneration makes the workers started from now on a new generation:
// the pool warms a full set of them while the old ones keep serving, and
// stops each old one as soon as a new one is ready.
func (p *pool) newGeneration(now time.Time) {
	p.gen++
	p.refill(now)
}

// refresh replaces a generation whose warm state went stale (cause: the
// dependency that changed): unlike newGeneration, no worker of an older
// generation takes another client, so that a call never runs on the old
// state nor pays a rebuild of its own. Idle old workers stop now, starting
// ones are stopped (they may have read the old files), busy ones finish
// their client and exit; clients that arrive meanwhile wait in the
// backlog for the first new worker.
func (p *pool) refresh(now time.Time, cause string) {
	if p.closing {
		return
	}
	p.gen++
	p.staleGen = p.gen
	p.stats.refreshes++
	p.stats.lastRefresh, p.stats.refreshCause = now, cause
	p.log(hclog.Info, "dependency changed; warming a new generation of workers", "changed", cause, "generation", p.gen)
	for i := 0; i < len(p.idle); i++ {
		if w := p.idle[i]; w.gen < p.gen {
			p.removeIdle(w)
			i--
			p.stop(w)
		}
	}
	for w := range p.workers {
		if w.gen >= p.gen {
			continue
		}
		// Busy and returning ones are stopped when they come back
		// (ready). Starting ones are stopped, not killed: one may have
		// sent its ready and taken a client already (the message is on
		// its way); stopped, it serves that client and exits, or exits
		// when it is done building.
		if w.state == stateStarting {
			if w.pid == 0 {
				w.discard = true // stopped when launched
				continue
			}
			p.stop(w)
		}
	}
	p.refill(now)
}

// built: a lazy worker's Handler was built: the constructor works again,
// and workers are started warm again.
func (p *pool) built() {
	if p.lazy {
		p.lazy = false
		p.log(hclog.Info, "the handler builds again; starting warm workers")
	}
}

func (p *pool) removeIdle(w *worker) {
	for i, q := range p.idle {
		if q == w {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return
		}
	}
}

// stop ends a ready worker: the Server shuts down its side of the
// worker's socket, which makes it exit. The worker may have just accepted
// a client and not yet said so: its "accepted" still arrives, and
// accepted then has it serve that client and exit.
func (p *pool) stop(w *worker) {
	w.state = stateStopping
	p.do(action{kind: actStop, w: w, drain: p.closing})
}

// killStopped reports whether a worker stopped stopGrace ago is still to
// be killed: it has not exited, nor turned out to hold a client.
func (p *pool) killStopped(w *worker) bool { return w.state == stateStopping }

// accepted: w took a client from the backlog.
func (p *pool) accepted(w *worker, now time.Time) {
	p.removeIdle(w)
	if w.state == stateStopping {
		// Stopped while it took this client: it serves the client, then
		// exits (the end of input it reads tells it so).
		w.retiring = true
	}
	w.state = stateBusy
	w.idleSince, w.evictSent = time.Time{}, time.Time{}
	p.stats.served++
	p.lastAct = now
	if p.closing {
		p.do(action{kind: actDrain, w: w}) // accepted during shutdown: this command only
	}
	if p.singleUse && !p.closing {
		p.keepUp(now)
		return
	}
	if p.refillAt.IsZero() && !p.closing {
		p.refillAt = now.Add(refillDelay)
		p.wake(p.refillAt)
	}
}

// keepUpWindow is how far back keepUp counts accepts.
const keepUpWindow = time.Second

// keepUp runs at each accept of a pool whose workers serve one client
// each: the worker that took the client is used up, so its replacement
// starts now, not after refillDelay, and the spare target follows the
// demand (Little's law): as many spare workers as clients arrive while
// one starts, plus the floor, within the ceiling. A burst of back to back
// calls then finds a worker ready for each call instead of waiting for
// one to start.
func (p *pool) keepUp(now time.Time) {
	p.accepts = append(p.accepts, now)
	i := 0
	for i < len(p.accepts) && now.Sub(p.accepts[i]) > keepUpWindow {
		i++
	}
	p.accepts = p.accepts[i:]
	// The arrival rate over the accepts in the window, from the first
	// to now: a burst shorter than the window counts at its own pace.
	rate := 0.0
	if span := now.Sub(p.accepts[0]); len(p.accepts) > 1 && span > 0 {
		rate = float64(len(p.accepts)-1) / span.Seconds()
	}
	want := p.settings.minSpare + int(math.Ceil(rate*p.startTook.Seconds()))
	if want > p.spareTarget {
		p.spareTarget = min(want, p.settings.maxSpare)
		p.lastDry = now // as after a wait: the shrinking counts from here
	}
	p.refill(now)
}

// done: w's client session has ended; recycle says whether and why it
// exits now (values of controlMsg.Recycle).
func (p *pool) done(w *worker, recycle string, now time.Time) {
	if w.state != stateBusy {
		return
	}
	w.idleSince, w.evictSent = time.Time{}, time.Time{}
	p.lastAct = now
	switch recycle {
	case "":
		w.state = stateReturning
		if w.retiring {
			w.state = stateRecycling
		}
	case recycleExit:
		w.state = stateRecycling // not coming back
		if !w.retiring && !p.closing && !w.lazy {
			p.singleUse = true
		}
		p.log(hclog.Debug, "worker exits after its client", "pid", w.pid)
	default:
		w.state = stateRecycling
		p.stats.recycled++
		p.log(hclog.Debug, "worker recycled", "pid", w.pid, "reason", recycle)
	}
}

// clientIdle: w reports that its client has been idle since then (zero:
// it is not idle, or no longer).
func (p *pool) clientIdle(w *worker, since time.Time) {
	w.evictSent = time.Time{}
	if since.IsZero() || w.state != stateBusy {
		w.idleSince = time.Time{}
		return
	}
	w.idleSince = since
}

// evicted: w closed its idle client for one waiting.
func (p *pool) evicted() { p.stats.idleClosed++ }

// needsExitReason reports whether w's end is a failure to explain (the
// Server then finds out why it died, before calling gone).
func (p *pool) needsExitReason(w *worker) bool { return w.state == stateStarting }

// gone: w's control socket closed (it exited or is about to); reason
// explains a worker that died before it was ready.
func (p *pool) gone(w *worker, reason string, now time.Time) {
	switch w.state {
	case stateStarting:
		p.failures++
		p.stats.crashed++
		p.stats.lastFailure = reason
		p.log(hclog.Warn, "worker exited before it was ready", "pid", w.pid, "reason", reason)
		if !w.lazy && !p.lazy && !w.killed {
			// Its constructor may have exited: the next workers build
			// in their client's command, which gets that exit.
			p.lazy = true
			p.log(hclog.Info, "starting workers that build the handler in their client's first command")
		}
	case stateBusy:
		p.stats.crashed++ // its client's session ends with it
		p.lastAct = now
	case stateReady:
		p.removeIdle(w)
	}
	w.state = stateGone
	delete(p.workers, w)
	p.refill(now)
}

// tick does what is due: pending refills, start timeouts, pings and
// unanswered pings, and the shrinking of the pool.
func (p *pool) tick(now time.Time) {
	p.checks++
	next := now.Add(healthMaxSleep)
	dueBy := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	defer func() { p.wakeAt, p.woken = next, false }()
	if p.closing {
		return
	}
	if !p.retryAt.IsZero() && !now.Before(p.retryAt) {
		p.retryAt = time.Time{}
		p.failures = min(p.failures, maxEarlyFailures-1) // let one more try through
		p.startWorkers(p.deficit(), true)
	}
	if !p.refillAt.IsZero() && !now.Before(p.refillAt) {
		p.refillAt = time.Time{}
		p.refill(now)
	}
	if !p.fdWaitAt.IsZero() && !now.Before(p.fdWaitAt) {
		p.fdWaitAt = time.Time{}
		p.refill(now)
	}
	p.checkStarts(now, dueBy)
	p.ping(now, dueBy)
	p.shrink(now, dueBy)
	dueBy(p.retryAt)
	dueBy(p.refillAt)
	dueBy(p.fdWaitAt)
}

// checkStarts kills the workers too slow to start. When no worker is
// ready or on its way for the clients waiting, they are told why.
func (p *pool) checkStarts(now time.Time, dueBy func(time.Time)) {
	if p.settings.startTimeout <= 0 {
		return
	}
	var answer error
	onTheirWay := 0 // workers still starting within their time
	for w := range p.workers {
		if w.state != stateStarting || w.startedAt.IsZero() {
			continue
		}
		if deadline := w.startedAt.Add(p.settings.startTimeout); now.Before(deadline) {
			dueBy(deadline)
			onTheirWay++
			continue
		}
		w.state, w.killed = stateStopping, true
		p.stats.startTimeouts++
		p.failures++
		answer = fmt.Errorf("a worker was not ready within cmdserver.worker-start-timeout=%s (the application's start-up hangs?) and was killed", p.settings.startTimeout)
		p.stats.lastFailure = answer.Error()
		p.log(hclog.Error, "worker start timed out; killing it", "pid", w.pid, "timeout", p.settings.startTimeout)
		p.do(action{kind: actKill, w: w})
	}
	// Waiting clients are not this worker's: any worker ready takes them
	// from the shared backlog, and one may still come.
	if answer != nil && len(p.idle) == 0 && onTheirWay == 0 {
		p.do(action{kind: actAnswer, err: answer})
	}
}

// quietSince is since when no client came, went, or waited.
func (p *pool) quietSince() time.Time {
	if p.lastDry.After(p.lastAct) {
		return p.lastDry
	}
	return p.lastAct
}

// ping pings the idle workers that have been silent for a while, and
// kills those that did not answer in time: not ready in any useful sense
// (stopped, stuck), they must not count as ready, or clients wait for
// them.
func (p *pool) ping(now time.Time, dueBy func(time.Time)) {
	if p.settings.answerTimeout <= 0 {
		return
	}
	interval := pingInterval
	if now.Sub(p.quietSince()) >= p.settings.spareIdle {
		interval = quietPingInterval
	}
	for i := 0; i < len(p.idle); i++ {
		w := p.idle[i]
		switch {
		case !w.pingSent.IsZero() && now.Sub(w.pingSent) >= p.settings.answerTimeout:
			p.log(hclog.Warn, "idle worker stopped answering; replacing it", "pid", w.pid, "timeout", p.settings.answerTimeout)
			p.stats.unresponsive++
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			i--
			w.state, w.killed = stateStopping, true
			p.do(action{kind: actKill, w: w}) // SIGKILL ends a stopped process too
			p.refill(now)
			continue
		case w.pingSent.IsZero() && now.Sub(w.heard) >= interval-pingSlack:
			p.sendPing(w, now)
		}
		if w.pingSent.IsZero() {
			dueBy(w.heard.Add(interval))
			continue
		}
		// The answer does not wake the supervisor: wake for the next
		// round of pings, when this one is likely answered by then, else
		// when the answer is overdue.
		nextRound, overdue := w.pingSent.Add(interval), w.pingSent.Add(p.settings.answerTimeout)
		if now.Before(nextRound) && nextRound.Before(overdue) {
			dueBy(nextRound)
		} else {
			dueBy(overdue)
		}
	}
}

func (p *pool) sendPing(w *worker, now time.Time) {
	p.do(action{kind: actPing, w: w})
	w.pingSent = now
}

// shrink stops a spare worker once no client came or went for a while,
// one every shrinkEvery, down to the floor. Not while clients come and
// go: a reused worker comes back to the pool after its client, and
// stopping it only to start another for the next client would churn.
func (p *pool) shrink(now time.Time, dueBy func(time.Time)) {
	if p.spareTarget <= p.settings.minSpare && len(p.idle) <= p.settings.minSpare {
		return
	}
	due := p.quietSince().Add(p.settings.spareIdle)
	if paced := p.lastShrink.Add(shrinkEvery); paced.After(due) {
		due = paced
	}
	if now.Before(due) {
		dueBy(due)
		return
	}
	p.spareTarget = p.settings.minSpare
	if len(p.idle) <= p.spareTarget {
		return
	}
	// The one idle the longest, but not one whose ping is unanswered:
	// its answer (or its absence) decides about it.
	var w *worker
	for _, q := range p.idle {
		if q.pingSent.IsZero() {
			w = q
			break
		}
	}
	if w == nil {
		return
	}
	p.removeIdle(w)
	p.lastShrink = now
	p.log(hclog.Debug, "stopping a spare worker", "pid", w.pid, "idle", len(p.idle), "spare_target", p.spareTarget)
	p.stop(w)
	if len(p.idle) > p.spareTarget {
		dueBy(now.Add(shrinkEvery))
	}
}

// clientsWaiting: the backlog watcher saw a client waiting with no worker
// ready. It starts a worker for it (within cmdserver.max-clients and the
// bound on parallel starts); at the cap it asks the worker of the
// longest-idle client to close that connection; while workers keep dying
// before they are ready it answers waiting clients with the reason. It
// reports whether it acted: if not, the watcher waits for a change
// rather than spin on the backlog.
func (p *pool) clientsWaiting(now time.Time) (acted bool) {
	if p.closing || len(p.idle) > 0 {
		return true
	}
	// When a client still waits a moment later, with no worker on its way
	// back from a client, the pool ran dry: keep one more spare worker
	// from now on. (A client that merely connected before a ready worker
	// was scheduled, on a loaded machine, is not a reason to grow.)
	returning := p.count(stateReturning, false)
	if p.waitSince.IsZero() {
		p.waitSince = now
	} else if now.Sub(p.waitSince) >= dryAfter && returning == 0 {
		p.waitSince = now
		p.lastDry = now
		if p.spareTarget < p.settings.maxSpare {
			p.spareTarget++
			p.refill(now)
		}
	}
	switch {
	case p.failures >= maxEarlyFailures && p.starting() > 0:
		return false // a try is on its way; the clients wait for it
	case p.failures >= maxEarlyFailures && !p.triedForClients:
		p.triedForClients = true
		p.retryAt = time.Time{}
		p.startWorkers(1, false)
		return true
	case p.failures >= maxEarlyFailures:
		p.triedForClients = false
		err := fmt.Errorf("worker processes keep exiting before they are ready (%d in a row): %s; see the server log", p.failures, p.stats.lastFailure)
		p.log(hclog.Error, "no worker for waiting clients", "error", err)
		p.do(action{kind: actAnswer, err: err, start: p.lastStart})
		p.failures = maxEarlyFailures - 1 // the next client gets one more try
		return true
	case !p.fdWaitAt.IsZero(), !p.retryAt.IsZero():
		return false // a retry is pending; clients wait for it
	case returning > 0:
		return false // a worker back from its client takes it sooner than a new one
	case p.live() >= p.settings.maxClients:
		if !p.atCap {
			p.atCap = true
			p.stats.maxClientsReached++
			p.log(hclog.Warn, "max-clients reached: a client waits for a worker", "max_clients", p.settings.maxClients)
		}
		p.evictIdleClient(now)
		return false
	case p.starting() <= p.spareTarget && p.starting() < p.settings.parallel:
		// One beyond the pool's own refills: the pool grows through its
		// spare target, not through guesses at how many wait.
		p.startWorkers(1, false)
		return true
	}
	return false // workers are on their way
}

// noClientWaiting: the backlog watcher saw the backlog empty.
func (p *pool) noClientWaiting() {
	p.workersReady()
	p.suspectAt = time.Time{}
}

// workersReady: the backlog watcher saw workers ready: a client waiting
// from now on starts a new wait.
func (p *pool) workersReady() {
	p.atCap = false
	p.waitSince = time.Time{}
}

// waitingWhileReady: the backlog watcher saw a client waiting while
// workers count as ready. Ready workers accept at once, so a client that
// still waits stuckAfter later, with no client accepted meanwhile, is
// evidence that they do not (stopped, stuck): they are pinged at once,
// rather than at their next round, and a spare worker is started for the
// client. It returns how long the watcher should wait before it looks
// again (zero: no need, the backlog was seen empty in between).
func (p *pool) waitingWhileReady(now time.Time) time.Duration {
	if p.closing || len(p.idle) == 0 {
		return 0
	}
	if p.suspectAt.IsZero() || p.stats.served != p.suspectServed {
		p.suspectAt, p.suspectServed = now, p.stats.served
		return stuckAfter
	}
	if wait := stuckAfter - now.Sub(p.suspectAt); wait > 0 {
		return wait
	}
	p.suspectAt, p.suspectServed = now, p.stats.served
	pinged := 0
	if p.settings.answerTimeout > 0 {
		for _, w := range p.idle {
			if w.pingSent.IsZero() {
				p.sendPing(w, now)
				pinged++
			}
			p.wake(w.pingSent.Add(p.settings.answerTimeout))
		}
	}
	started := 0
	if p.starting() == 0 && p.live() < p.settings.maxClients {
		p.startWorkers(1, false)
		started = 1
	}
	if pinged > 0 || started > 0 {
		p.log(hclog.Warn, "a client waits while workers count as ready; pinging them and starting another",
			"ready", len(p.idle), "pinged", pinged, "started", started)
	}
	return stuckAfter
}

// evictIdleClient asks the worker whose client has been idle the longest
// (as reported, after cmdserver.client-idle-timeout) to close that
// connection, for a client waiting at the cap. One at a time: the next
// only once the last has had its chance.
func (p *pool) evictIdleClient(now time.Time) {
	var victim *worker
	for w := range p.workers {
		if w.state != stateBusy {
			continue
		}
		if !w.evictSent.IsZero() {
			if now.Sub(w.evictSent) < time.Second {
				return // in flight
			}
			continue
		}
		if w.idleSince.IsZero() {
			continue
		}
		if victim == nil || w.idleSince.Before(victim.idleSince) {
			victim = w
		}
	}
	if victim == nil {
		return
	}
	victim.evictSent = now
	p.do(action{kind: actEvict, w: victim, idle: now.Sub(victim.idleSince)})
}

// shutdown: stop idle workers, let busy ones finish their command, end
// those still starting. Clients still in the backlog have started
// nothing: the backlog watcher tells them, rather than starting workers
// only to stop them.
func (p *pool) shutdown() {
	if p.closing {
		return
	}
	p.closing = true
	p.log(hclog.Info, "shutting down", "active_clients", p.active())
	p.retryAt, p.fdWaitAt, p.refillAt = time.Time{}, time.Time{}, time.Time{}
	idle := p.idle
	p.idle = nil
	for _, w := range idle {
		p.stop(w)
	}
	for w := range p.workers {
		switch w.state {
		case stateStarting:
			if w.pid != 0 {
				w.state = stateStopping // no client yet: nothing to finish
				p.log(hclog.Info, "stopping a worker that is still starting", "pid", w.pid)
				p.do(action{kind: actTerm, w: w})
			}
		case stateBusy, stateReturning, stateRecycling:
			p.do(action{kind: actDrain, w: w})
		}
	}
}
