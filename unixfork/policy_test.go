package unixfork

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The pool's policy on a fake clock: no processes, no sleeps. Each test
// feeds events with the time it chooses and checks the actions.

type fakePool struct {
	t   *testing.T
	p   *pool
	now time.Time
	pid int
}

func testSettings() settings {
	return settings{
		minSpare: 2, maxSpare: 8, maxClients: 64, parallel: 4,
		spareIdle: 10 * time.Second, startTimeout: 30 * time.Second, answerTimeout: 2 * time.Second,
	}
}

// beginFakePool starts a pool; the workers it asks for are in its
// actions.
func beginFakePool(t *testing.T, st settings) *fakePool {
	f := &fakePool{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), pid: 100}
	f.p = newPool(st, f.now)
	f.p.begin(f.now)
	return f
}

// newFakePool starts a pool and has the workers it asks for start and
// report ready.
func newFakePool(t *testing.T, st settings) *fakePool {
	f := beginFakePool(t, st)
	f.readyAll(f.launch(f.take()))
	require.Len(t, f.p.idle, st.minSpare)
	return f
}

// oneSpare is testSettings with a floor of one spare worker.
func oneSpare() settings {
	st := testSettings()
	st.minSpare = 1
	return st
}

func (f *fakePool) take() []action { return f.p.take() }

func (f *fakePool) advance(d time.Duration) { f.now = f.now.Add(d) }

// tick advances the clock by d and ticks the pool.
func (f *fakePool) tick(d time.Duration) []action {
	f.advance(d)
	f.p.tick(f.now)
	return f.take()
}

// launch starts the processes the actions ask for.
func (f *fakePool) launch(acts []action) []*worker {
	var ws []*worker
	for _, a := range acts {
		if a.kind == actStart {
			f.pid++
			f.p.launched(a.w, f.pid, f.now)
			ws = append(ws, a.w)
		}
	}
	return ws
}

func (f *fakePool) readyAll(ws []*worker) {
	for _, w := range ws {
		f.p.heard(w, f.now)
		f.p.ready(w, f.now)
	}
}

// serve has ready worker w take a client.
func (f *fakePool) serve(w *worker) []action {
	f.p.heard(w, f.now)
	f.p.accepted(w, f.now)
	return f.take()
}

// only returns the actions of kind k.
func only(acts []action, k actionKind) []action {
	var out []action
	for _, a := range acts {
		if a.kind == k {
			out = append(out, a)
		}
	}
	return out
}

func logged(acts []action, msg string) bool {
	for _, a := range acts {
		if a.kind == actLog && strings.Contains(a.msg, msg) {
			return true
		}
	}
	return false
}

// TestPolicyRefill: a worker that takes a client is replaced a moment
// later (refillDelay), not at once, and one refill serves every client
// accepted meanwhile.
func TestPolicyRefill(t *testing.T) {
	f := newFakePool(t, testSettings())
	w1, w2 := f.p.idle[0], f.p.idle[1]
	require.Empty(t, only(f.serve(w1), actStart), "refilled at once")
	f.advance(time.Millisecond)
	require.Empty(t, only(f.serve(w2), actStart))
	require.Equal(t, 2, f.p.active())
	require.Equal(t, f.now.Add(refillDelay-time.Millisecond), f.p.wakeAt, "the supervisor is woken for the refill")
	require.Empty(t, only(f.tick(refillDelay/2), actStart))
	starts := only(f.tick(refillDelay), actStart)
	require.Len(t, starts, 2, "the pool is refilled to its spare target")
	require.True(t, starts[0].rehearse, "pool workers rehearse")
	require.Equal(t, 2, f.p.starting())
}

// TestPolicyGrowsUnderWaitingClient: a client that waits with no worker
// ready has a worker started for it, and once it waits dryAfter the spare
// target grows (up to the ceiling); not while a worker is on its way back
// from a client.
func TestPolicyGrowsUnderWaitingClient(t *testing.T) {
	st := testSettings()
	st.minSpare, st.maxSpare = 1, 2
	f := newFakePool(t, st)
	w := f.p.idle[0]
	f.serve(w)
	require.True(t, f.p.clientsWaiting(f.now))
	starts := only(f.take(), actStart)
	require.Len(t, starts, 1, "a worker for the waiting client")
	require.False(t, starts[0].rehearse, "a client waits for it: no rehearsal")
	require.Equal(t, 1, f.p.spareTarget)
	f.advance(dryAfter)
	f.p.clientsWaiting(f.now)
	require.Equal(t, 2, f.p.spareTarget, "the pool ran dry: one more spare")
	require.Equal(t, f.now, f.p.lastDry)
	f.advance(dryAfter)
	f.p.clientsWaiting(f.now)
	require.Equal(t, 2, f.p.spareTarget, "not beyond max-spare-workers")
	f.take()

	// A worker on its way back takes the next client: no growth, no start.
	f.p.noClientWaiting()
	f.readyAll(f.launch(starts))
	f.serve(starts[0].w)
	f.p.done(w, "", f.now)
	require.Equal(t, stateReturning, w.state)
	f.p.spareTarget = 1
	f.p.clientsWaiting(f.now)
	f.advance(dryAfter)
	require.False(t, f.p.clientsWaiting(f.now), "waits for the returning worker")
	require.Equal(t, 1, f.p.spareTarget)
}

// TestPolicyShrinksAfterIdleTimeout: once no client came, went or waited
// for spare-idle-timeout, spare workers beyond the floor are stopped, the
// one idle the longest first, one every shrinkEvery.
func TestPolicyShrinksAfterIdleTimeout(t *testing.T) {
	f := newFakePool(t, testSettings())
	f.p.spareTarget = 4
	f.p.refill(f.now)
	f.readyAll(f.launch(f.take()))
	require.Len(t, f.p.idle, 4)
	oldest := f.p.idle[0]
	f.p.pong(oldest)
	require.Empty(t, only(f.tick(9*time.Second), actStop), "stopped before the idle timeout")
	for _, w := range f.p.idle {
		f.p.heard(w, f.now)
		f.p.pong(w)
	}
	stops := only(f.tick(time.Second), actStop)
	require.Len(t, stops, 1)
	require.Same(t, oldest, stops[0].w)
	require.Equal(t, stateStopping, oldest.state)
	require.Equal(t, 2, f.p.spareTarget, "back to the floor")
	require.Equal(t, f.now.Add(shrinkEvery), f.p.wakeAt)
	require.Empty(t, only(f.tick(shrinkEvery/2), actStop), "paced")
	require.Len(t, only(f.tick(shrinkEvery), actStop), 1)
	require.Len(t, f.p.idle, 2)
	require.Empty(t, only(f.tick(time.Minute), actStop), "not below the floor")
	require.True(t, f.p.killStopped(oldest), "a stopped worker that has not exited is killed after its grace")
	f.p.gone(oldest, "", f.now)
	require.Empty(t, only(f.take(), actStart), "a stopped spare is not replaced")
}

// TestPolicyRecycle: a worker recycled by count or RSS is counted and
// replaced once gone; one that exits for another reason is not counted as
// recycled; one that comes back counts as spare meanwhile.
func TestPolicyRecycle(t *testing.T) {
	for _, reason := range []string{recycleCount, recycleRSS, recycleExit, ""} {
		t.Run("recycle="+reason, func(t *testing.T) {
			f := newFakePool(t, oneSpare())
			w := f.p.idle[0]
			f.serve(w)
			f.advance(time.Millisecond)
			f.p.done(w, reason, f.now)
			acts := f.take()
			require.Equal(t, f.now, f.p.lastAct)
			require.Zero(t, f.p.active())
			if reason == "" {
				require.Equal(t, stateReturning, w.state)
				require.Empty(t, only(f.tick(refillDelay), actStart), "a returning worker counts as spare")
				f.p.ready(w, f.now)
				require.Equal(t, []*worker{w}, f.p.idle)
				return
			}
			require.Equal(t, stateRecycling, w.state)
			want := int64(1)
			if reason == recycleExit {
				want = 0
				require.True(t, logged(acts, "worker exits after its client"))
			}
			require.Equal(t, want, f.p.stats.recycled)
			require.Len(t, only(f.tick(refillDelay), actStart), 1, "replaced")
			f.p.gone(w, "", f.now)
			require.Zero(t, f.p.stats.crashed, "a recycled worker did not crash")
		})
	}
}

// TestPolicyCrashLoopBackOff: workers that die before they are ready are
// replaced after a doubling delay, not at once; after maxEarlyFailures in
// a row a waiting client gets one more worker started at once and, when
// that one dies too, is told why; a worker that gets ready ends the
// back-off.
func TestPolicyCrashLoopBackOff(t *testing.T) {
	f := beginFakePool(t, oneSpare())
	ws := f.launch(f.take())
	require.Len(t, ws, 1)
	var delays []time.Duration
	for i := 0; i < maxEarlyFailures; i++ {
		require.True(t, f.p.needsExitReason(ws[0]))
		f.p.gone(ws[0], "exit status 3: broken", f.now)
		require.Empty(t, only(f.take(), actStart), "restarted with no delay")
		delay := f.p.retryAt.Sub(f.now)
		delays = append(delays, delay)
		require.Empty(t, only(f.tick(delay-time.Millisecond), actStart))
		ws = f.launch(f.tick(time.Millisecond))
		require.Len(t, ws, 1, "restarted after the delay")
	}
	require.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}, delays)
	require.Equal(t, int64(maxEarlyFailures), f.p.stats.crashed)
	f.p.gone(ws[0], "exit status 3: broken", f.now)
	require.Equal(t, 800*time.Millisecond, f.p.retryAt.Sub(f.now), "each retry lets one more try through: the delay stops doubling")
	f.take()
	require.True(t, f.p.clientsWaiting(f.now))
	ws = f.launch(f.take())
	require.Len(t, ws, 1, "one more try for the waiting client, at once")
	require.False(t, f.p.clientsWaiting(f.now), "the client waits for that try")
	f.p.gone(ws[0], "exit status 3: broken", f.now)
	f.take()
	require.True(t, f.p.clientsWaiting(f.now))
	answers := only(f.take(), actAnswer)
	require.Len(t, answers, 1)
	require.Contains(t, answers[0].err.Error(), "keep exiting before they are ready")
	require.Contains(t, answers[0].err.Error(), "broken")
	f.p.noClientWaiting()

	ws = f.launch(f.tick(time.Second))
	require.Len(t, ws, 1)
	f.readyAll(ws)
	require.Zero(t, f.p.failures, "ready: the back-off is over")
}

// TestPolicyStartTimeout: a worker not ready within the start timeout is
// killed, counted, and the clients waiting are told why when no other
// worker is ready or on its way.
func TestPolicyStartTimeout(t *testing.T) {
	st := oneSpare()
	st.startTimeout = time.Second
	f := beginFakePool(t, st)
	ws := f.launch(f.take())
	require.Equal(t, f.now.Add(time.Second), f.p.wakeAt)
	require.Empty(t, only(f.tick(999*time.Millisecond), actKill))
	acts := f.tick(time.Millisecond)
	kills := only(acts, actKill)
	require.Len(t, kills, 1)
	require.Same(t, ws[0], kills[0].w)
	answers := only(acts, actAnswer)
	require.Len(t, answers, 1)
	require.Contains(t, answers[0].err.Error(), "cmdserver.worker-start-timeout=1s")
	require.True(t, logged(acts, "worker start timed out"))
	require.Equal(t, int64(1), f.p.stats.startTimeouts)
	require.False(t, f.p.needsExitReason(ws[0]), "explained already")
	f.p.gone(ws[0], "", f.now)
	require.Zero(t, f.p.stats.crashed, "a timeout is not counted twice")
}

// TestPolicyUnresponsiveIdleWorker: an idle worker is pinged once silent
// for pingInterval (quietPingInterval in a quiet pool) and killed and
// replaced when it does not answer within the answer timeout; one that
// answers stays.
func TestPolicyUnresponsiveIdleWorker(t *testing.T) {
	f := newFakePool(t, testSettings())
	stuck, fine := f.p.idle[0], f.p.idle[1]
	pings := only(f.tick(pingInterval), actPing)
	require.Len(t, pings, 2)
	f.p.heard(fine, f.now)
	f.p.pong(fine)
	require.Empty(t, only(f.tick(time.Second), actKill))
	acts := f.tick(time.Second)
	kills := only(acts, actKill)
	require.Len(t, kills, 1)
	require.Same(t, stuck, kills[0].w)
	require.True(t, logged(acts, "idle worker stopped answering"))
	require.Equal(t, int64(1), f.p.stats.unresponsive)
	require.Len(t, only(acts, actStart), 1, "replaced")
	require.Equal(t, []*worker{fine}, f.p.idle, "no longer counts as ready")

	// Quiet: pings every quietPingInterval.
	f.advance(time.Minute)
	f.p.heard(fine, f.now)
	f.p.pong(fine)
	require.Empty(t, only(f.tick(pingInterval), actPing))
	require.Len(t, only(f.tick(quietPingInterval-pingInterval), actPing), 1)
}

// TestPolicyStoppedAfterAccept: a worker that took a client holds it and
// is never killed as idle, even when it stops answering (stopped right
// after it accepted); one stopped by the pool while it took a client
// serves it and then exits.
func TestPolicyStoppedAfterAccept(t *testing.T) {
	f := newFakePool(t, testSettings())
	w := f.p.idle[0]
	require.Len(t, only(f.tick(pingInterval), actPing), 2)
	f.serve(w) // the ping stays unanswered: SIGSTOP
	for i := 0; i < 10; i++ {
		acts := f.tick(time.Minute)
		for _, a := range acts {
			require.NotSame(t, w, a.w, "the busy worker got %v", a.kind)
		}
	}
	require.Equal(t, stateBusy, w.state)
	require.False(t, w.killed)

	// Stopped (shrink) while it took a client: spared, then retires.
	f = newFakePool(t, testSettings())
	f.p.spareTarget = 3
	f.p.refill(f.now)
	f.readyAll(f.launch(f.take()))
	f.advance(time.Minute)
	for _, q := range f.p.idle {
		f.p.heard(q, f.now)
	}
	stops := only(f.tick(0), actStop)
	require.Len(t, stops, 1)
	w = stops[0].w
	f.serve(w)
	require.Equal(t, stateBusy, w.state)
	require.False(t, f.p.killStopped(w), "it holds a client")
	f.p.done(w, "", f.now)
	require.Equal(t, stateRecycling, w.state, "not coming back")
}

// TestPolicyClientWaitingWhileReady: a client that waits while workers
// count as ready, with no client accepted for stuckAfter, is evidence that
// they do not accept: they are pinged at once and a spare is started, in a
// quiet pool too; the ones that do not answer are killed. A client taken
// meanwhile is no evidence.
func TestPolicyClientWaitingWhileReady(t *testing.T) {
	f := newFakePool(t, testSettings())
	f.advance(time.Minute) // quiet: pings every 5 s
	for _, w := range f.p.idle {
		f.p.heard(w, f.now)
	}
	f.tick(0)
	require.Equal(t, stuckAfter, f.p.waitingWhileReady(f.now))
	require.Empty(t, f.take(), "one look is no evidence")
	f.advance(stuckAfter / 2)
	f.serve(f.p.idle[0])
	f.advance(stuckAfter / 2)
	require.Equal(t, stuckAfter, f.p.waitingWhileReady(f.now))
	require.Empty(t, f.take(), "a worker took a client meanwhile: the pool accepts")

	f.advance(stuckAfter)
	f.p.waitingWhileReady(f.now)
	acts := f.take()
	require.Len(t, only(acts, actPing), 1, "the ready worker pinged at once")
	starts := only(acts, actStart)
	require.Len(t, starts, 1, "a spare for the client")
	require.False(t, starts[0].rehearse)
	stuck := f.p.idle[0]
	require.False(t, f.p.wakeAt.After(f.now.Add(2*time.Second)), "woken by the time the answer is overdue")
	f.launch(starts)
	kills := only(f.tick(2*time.Second), actKill)
	require.Len(t, kills, 1)
	require.Same(t, stuck, kills[0].w)

	// The backlog seen empty in between: a later client starts afresh.
	f.p.noClientWaiting()
	f.readyAll([]*worker{starts[0].w})
	f.advance(time.Minute)
	require.Equal(t, stuckAfter, f.p.waitingWhileReady(f.now))
	require.Empty(t, f.take())
}

// TestPolicyGenerations: a new generation is started in full while the
// old one serves; each old idle worker is stopped once a new one is
// ready, and an old busy one finishes its client and is stopped when it
// comes back.
func TestPolicyGenerations(t *testing.T) {
	f := newFakePool(t, testSettings())
	old := append([]*worker(nil), f.p.idle...)
	busy := old[0]
	f.serve(busy)
	f.readyAll(f.launch(f.tick(refillDelay)))
	f.p.newGeneration(f.now)
	starts := only(f.take(), actStart)
	require.Len(t, starts, 2, "a full spare set of the new generation")
	require.Len(t, f.p.idle, 2, "the old generation serves meanwhile")
	ws := f.launch(starts)
	f.readyAll(ws[:1])
	stops := only(f.take(), actStop)
	require.Len(t, stops, 2, "old idle workers stopped once a new one is ready")
	require.Equal(t, []*worker{ws[0]}, f.p.idle)
	f.p.done(busy, "", f.now)
	f.p.ready(busy, f.now)
	require.Len(t, only(f.take(), actStop), 1, "the old busy worker retires when it comes back")
	require.Equal(t, []*worker{ws[0]}, f.p.idle)
}

// TestPolicyRefresh: when the warm state goes stale, no old worker takes
// another client: idle ones are stopped at once (not once a new one is
// ready), starting ones are stopped, and a busy one is stopped when it
// comes back even though no new worker is ready yet. A stale worker not
// yet launched is stopped as soon as it is. The status says what changed.
func TestPolicyRefresh(t *testing.T) {
	f := newFakePool(t, testSettings())
	busy := f.p.idle[0]
	f.serve(busy)
	// The refill after the accept: one starting, one not yet launched.
	launched := f.launch(only(f.tick(refillDelay), actStart))
	require.Len(t, launched, 1)

	f.p.refresh(f.now, "file /etc/app.conf")
	acts := f.take()
	stops := only(acts, actStop)
	require.Len(t, stops, 2, "the old idle and starting workers stop before any new one is ready")
	require.Contains(t, []*worker{stops[0].w, stops[1].w}, launched[0], "the old starting worker is stopped")
	require.Empty(t, only(acts, actKill), "not killed: it may hold a client already")
	starts := only(acts, actStart)
	require.Len(t, starts, 2, "a full spare set of the new generation")
	require.Empty(t, f.p.idle)

	// Another change before the new workers even ran.
	f.p.refresh(f.now, "file /etc/app.conf")
	again := only(f.take(), actStart)
	require.Len(t, again, 2)
	f.launch(starts)
	require.Len(t, only(f.take(), actStop), 2, "stale workers are stopped once launched")
	starts = again

	f.p.done(busy, "", f.now)
	f.p.ready(busy, f.now)
	require.Len(t, only(f.take(), actStop), 1, "the old busy worker does not come back to the pool")
	require.Empty(t, f.p.idle)

	ws := f.launch(starts)
	f.readyAll(ws)
	require.ElementsMatch(t, ws, f.p.idle, "only the new generation serves")
	require.Equal(t, int64(2), f.p.stats.refreshes)
	require.Equal(t, "file /etc/app.conf", f.p.stats.refreshCause)
	require.Equal(t, int64(0), f.p.stats.crashed, "stopped stale workers are no crash")
}

// TestPolicyShutdown: idle workers are stopped with a drain, busy ones
// drained, starting ones terminated, and nothing is started any more.
func TestPolicyShutdown(t *testing.T) {
	f := newFakePool(t, testSettings())
	busy := f.p.idle[0]
	f.serve(busy)
	starts := only(f.tick(refillDelay), actStart)
	f.launch(starts)
	f.p.shutdown()
	acts := f.take()
	stops := only(acts, actStop)
	require.Len(t, stops, 1)
	require.True(t, stops[0].drain)
	require.Len(t, only(acts, actDrain), 1)
	require.Len(t, only(acts, actTerm), len(starts))
	f.p.gone(busy, "", f.now)
	require.Empty(t, only(f.take(), actStart))
	require.Empty(t, f.tick(time.Minute))
}

// TestPolicyFDShortage: out of file descriptors, the pool retries with a
// doubling delay and, after a second of retries with no worker left,
// tells the waiting clients.
func TestPolicyFDShortage(t *testing.T) {
	f := beginFakePool(t, oneSpare())
	var answered bool
	acts := f.take()
	for i := 0; i < 20 && !answered; i++ {
		require.Len(t, only(acts, actStart), 1, "retried")
		f.p.startFailed(only(acts, actStart)[0].w, errors.New("too many open files"), true, f.now)
		answered = len(only(f.take(), actAnswer)) > 0
		require.Equal(t, f.now.Add(f.p.fdBackoff), f.p.fdWaitAt)
		require.Empty(t, f.tick(f.p.fdBackoff-time.Millisecond), "retried early")
		acts = f.tick(time.Millisecond)
	}
	require.True(t, answered, "waiting clients told")
	require.Equal(t, time.Second, f.p.fdBackoff)
	require.Contains(t, f.p.stats.lastFailure, "out of file descriptors")
}

// TestPolicyKeepsUpWithSingleUseWorkers: once workers are seen to exit
// after their one client (a non-Reusable Handler), each accept starts a
// replacement at once, and back to back clients raise the spare target to
// what arrives while a worker starts, so that a burst does not run dry.
func TestPolicyKeepsUpWithSingleUseWorkers(t *testing.T) {
	f := beginFakePool(t, testSettings())
	first := f.launch(f.take())
	f.advance(40 * time.Millisecond) // a worker takes 40 ms to start
	f.readyAll(first)
	w := f.p.idle[0]
	f.serve(w)
	f.p.done(w, recycleExit, f.now)
	f.p.gone(w, "", f.now)
	require.True(t, f.p.singleUse)
	f.take()
	// Clients 15 ms apart: each accept starts a replacement at once,
	// and the spare target grows past the floor; with workers ready 40
	// ms after their start, no client after the first few finds the
	// pool dry.
	type pending struct {
		w  *worker
		at time.Time
	}
	var starting []pending
	launch := func(acts []action) int {
		ws := f.launch(acts)
		for _, w := range ws {
			starting = append(starting, pending{w, f.now.Add(40 * time.Millisecond)})
		}
		return len(ws)
	}
	launch(f.take())
	started, dry := 0, 0
	for i := range 30 {
		f.advance(15 * time.Millisecond)
		for len(starting) > 0 && !f.now.Before(starting[0].at) {
			f.readyAll([]*worker{starting[0].w})
			starting = starting[1:]
		}
		started += launch(f.take())
		if len(f.p.idle) == 0 {
			if i >= 10 { // past the ramp-up: the target has learnt the rate
				dry++
			}
			continue
		}
		w := f.p.idle[0]
		started += launch(f.serve(w))
		f.p.done(w, recycleExit, f.now)
		f.p.gone(w, "", f.now)
		started += launch(f.take())
	}
	require.Greater(t, f.p.spareTarget, testSettings().minSpare, "the spare target follows the demand")
	require.Zero(t, dry, "clients found no worker ready")
	require.GreaterOrEqual(t, started, 25, "a replacement for every worker used up")
}
