package session

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// Warm is a Handler kept fresh: before each command, its Handler (what a
// Session is given) calls Acquire, which confirms that
// the dependencies the Handler declared (protocol.Deps) are unchanged, and
// builds a new Handler with the constructor when one changed, so that no
// command runs on state built from an old file. Refresh does the same in
// the background, between commands, when a watcher saw a change: a command
// that arrives meanwhile waits for that build and never starts a second
// one. A Handler that declares nothing is never rebuilt.
//
// One Warm serves the sessions of a process in turn (a pipe server's, a
// unix worker's clients); it is safe for concurrent use.
type Warm struct {
	// lazy: built by the first command (NewLazyWarm).
	lazy  bool
	build func() (protocol.Handler, error)
	log   hclog.Logger
	// onStale is told when Acquire, not Refresh, found the state stale: a
	// change no watcher reported in time.
	onStale func(fresh.Change)

	mu sync.Mutex
	h  protocol.Handler
	// set is h's dependencies (nil when h declares none).
	set *fresh.Set
	// err is the last build's error; h is nil then, and the next Acquire
	// builds again.
	err error
	// building is non-nil while a build runs, closed when it ends.
	building chan struct{}
	// running counts commands between Acquire and their release; a
	// Refresh while one runs waits for the last (pending) so that the
	// build does not compete with the command, nor run beside it.
	running int
	pending bool
	// rebuilds counts the Handlers built after the first; changed is the
	// dependency behind the last one.
	rebuilds int
	changed  fresh.Change
	// watch is set by Watch; watcher, created with the first dependency
	// (a Handler that declares none costs no watcher), follows the
	// dependencies of each new Handler.
	watch   bool
	watcher *fresh.Watcher
	// prechecked is the set ClientProcessFor has just found unchanged:
	// the Acquire of the same command takes that check as its own
	// instead of paying for a second (cleared by Acquire).
	prechecked *fresh.Set
}

// NewWarm returns a Warm serving h, built by build (which is called again
// for each rebuild); log receives the rebuilds. onStale, if set, is
// called when a command found the state stale (a unix worker tells its
// master, whose pool can then replace its workers).
func NewWarm(h protocol.Handler, build func() (protocol.Handler, error), log hclog.Logger, onStale func(fresh.Change)) *Warm {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Warm{build: build, log: log, onStale: onStale, h: h, set: depsOf(h)}
}

// NewLazyWarm is NewWarm for a Handler not built yet: the first command
// builds it, in its own process state. Until then the command is lent the
// client's process state (as a plain program's own start-up would have
// it), so that what a constructor writes to os.Stdout or os.Stderr, and
// the status it exits with, are the command's.
func NewLazyWarm(build func() (protocol.Handler, error), log hclog.Logger, onStale func(fresh.Change)) *Warm {
	w := NewWarm(nil, build, log, onStale)
	w.lazy = true
	return w
}

// depsOf returns the dependency set h declared, nil when none.
func depsOf(h protocol.Handler) *fresh.Set {
	d, ok := h.(protocol.Dependent)
	if !ok {
		return nil
	}
	return fresh.SetOf(d.Dependencies())
}

// Deps returns the current Handler's dependencies (nil when it declares
// none), for a watcher.
func (w *Warm) Deps() *fresh.Set {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.set
}

// Rebuilds returns how many times the Handler was built again, and the
// change that caused the last build.
func (w *Warm) Rebuilds() (int, fresh.Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rebuilds, w.changed
}

// Acquire returns the Handler a command is to run on, and the release to
// call when the command is over. It waits for a build in progress, then
// checks the dependencies (the authoritative check, whatever any watcher
// said) and rebuilds in this call when one changed. The error is a failed
// build's: the command must not run (the old state is stale).
func (w *Warm) Acquire() (protocol.Handler, *fresh.Set, func(), error) {
	w.mu.Lock()
	for {
		w.waitBuildLocked()
		why := w.changed // when the last build failed, its cause
		stale := w.h == nil
		if !stale && w.set != nil && w.prechecked != w.set {
			why, stale = w.set.Check()
		}
		w.prechecked = nil
		if !stale {
			break
		}
		if w.h != nil {
			w.log.Info("warm state is stale; rebuilding the handler before the command", "changed", why.String())
			if w.onStale != nil {
				w.onStale(why)
			}
		}
		w.buildLocked(why)
		if w.h == nil {
			err := w.err
			w.mu.Unlock()
			return nil, nil, func() {}, err
		}
		// Built after the command arrived: not older than it. (A
		// background build that was waited for is checked again: it
		// may have read a file before the change the command follows.)
		break
	}
	h, set := w.h, w.set
	w.running++
	w.mu.Unlock()
	var once sync.Once
	return h, set, func() { once.Do(w.release) }, nil
}

func (w *Warm) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncWatchLocked() // the command may have declared a key's dependencies
	w.running--
	if w.running == 0 && w.pending {
		w.pending = false
		w.startLocked()
	}
}

// Refresh rebuilds the Handler in the background if its dependencies
// changed (a watcher's event; nothing happens when the check finds them
// unchanged). When a command runs, the build starts after it; when a build
// runs, that build is the refresh (its constructor declares, and so
// fingerprints, the files again).
func (w *Warm) Refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.building != nil {
		// A change the running build may have missed: check again once
		// it is over.
		w.pending = true
		return
	}
	if w.running > 0 {
		w.pending = true
		return
	}
	w.startLocked()
}

// startLocked starts a background build when the state is stale.
func (w *Warm) startLocked() {
	if w.h == nil {
		return // the next Acquire builds
	}
	why, stale := w.set.Check()
	if !stale {
		return
	}
	w.log.Info("dependency changed; rebuilding the handler in the background", "changed", why.String())
	done := make(chan struct{})
	w.building = done
	go func() {
		h, err := w.callBuild()
		w.mu.Lock()
		w.finishLocked(h, err, why)
		w.mu.Unlock()
	}()
}

// buildLocked builds in this goroutine, w.mu held on entry and exit.
func (w *Warm) buildLocked(why fresh.Change) {
	w.building = make(chan struct{})
	w.mu.Unlock()
	h, err := w.callBuild()
	w.mu.Lock()
	w.finishLocked(h, err, why)
}

func (w *Warm) finishLocked(h protocol.Handler, err error, why fresh.Change) {
	if err != nil {
		w.log.Error("rebuilding the handler failed; the next command tries again", "changed", why.String(), "error", err)
		w.h, w.set, w.err = nil, nil, fmt.Errorf("rebuilding after a change of %s: %w", why, err)
	} else {
		w.h, w.set, w.err = h, depsOf(h), nil
		w.syncWatchLocked()
	}
	w.rebuilds++
	w.changed = why
	close(w.building)
	w.building = nil
	if w.pending && w.running == 0 {
		w.pending = false
		w.startLocked()
	}
}

// Watch watches the dependencies of the Handler, and of each one built
// after it, and rebuilds in the background (Refresh) soon after a change:
// the next command finds the new state ready. It returns the function that
// stops watching. Where the system gives no watches (limits, file systems
// without events) it says so once in the log, and the check before each
// command, which Watch never replaces, is all there is.
func (w *Warm) Watch() (stop func()) {
	w.mu.Lock()
	w.watch = true
	w.syncWatchLocked()
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		fw := w.watcher
		w.watch, w.watcher = false, nil
		w.mu.Unlock()
		if fw != nil {
			fw.Close()
		}
	}
}

// syncWatchLocked makes the watches follow the current dependencies.
func (w *Warm) syncWatchLocked() {
	if !w.watch || w.set == nil || w.set.Len() == 0 {
		return
	}
	if w.watcher == nil {
		w.watcher = fresh.NewWatcher(w.log, w.Refresh)
	}
	w.watcher.Sync(w.set)
}

// Watching reports whether Watch watches every dependency of the current
// Handler.
func (w *Warm) Watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watcher != nil && w.watcher.Watching()
}

// callBuild runs the constructor, a panic in it being an error.
func (w *Warm) callBuild() (h protocol.Handler, err error) {
	defer func() {
		if v := recover(); v != nil {
			h, err = nil, fmt.Errorf("constructor panicked: %v", v)
		}
	}()
	h, err = w.build()
	if err == nil && h == nil {
		err = errors.New("constructor returned no handler")
	}
	return h, err
}

// waitBuildLocked waits, w.mu held, until no build runs.
func (w *Warm) waitBuildLocked() {
	for w.building != nil {
		ch := w.building
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
}

// Handler returns the Handler a Session serves: each command acquires the
// fresh Handler (Acquire) and runs on it; when the rebuild it needed
// failed, the command aborts with the error (status 255) rather than run
// on the stale state. An extension may wrap it like any Handler.
func (w *Warm) Handler() protocol.Handler { return warmHandler{w} }

type warmHandler struct{ w *Warm }

func (wh warmHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	h, set, release, err := wh.w.Acquire()
	defer release()
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: %s\n", err)
		return 255
	}
	if ui, ok := req.UI.(*sessionUI); ok {
		prev := ui.s.curDeps
		ui.s.curDeps = set
		defer func() { ui.s.curDeps = prev }()
	}
	return h.ServeCommand(ctx, req)
}

// Reusable reports whether the current Handler is reusable.
func (wh warmHandler) Reusable() bool {
	h := wh.current()
	return h != nil && IsReusable(h)
}

// ClientProcessFor asks for the client's process state when the current
// Handler does (protocol.ClientProcess): the wrapper must not hide it.
// It asks for it too when the command is to build the Handler (a lazy
// Warm's first, or one that finds the state stale): the constructor then
// runs in the command, and what it writes to os.Stdout and os.Stderr, or
// the status it exits with, are the command's, as in a plain run.
func (wh warmHandler) ClientProcessFor(args []string) bool {
	wh.w.mu.Lock()
	defer wh.w.mu.Unlock()
	h, set := wh.w.h, wh.w.set
	if h == nil {
		return wh.w.lazy
	}
	if wantsClientProcess(h, args) || set == nil || wh.w.building != nil {
		return wantsClientProcess(h, args)
	}
	if _, stale := set.Check(); stale {
		return true
	}
	wh.w.prechecked = set
	return false
}

func (wh warmHandler) current() protocol.Handler {
	wh.w.mu.Lock()
	defer wh.w.mu.Unlock()
	return wh.w.h
}

// UseKeyDeps takes the dependencies a command declared for key
// (Request.UseKeyFrom) into those of the Handler it runs on.
func (u *sessionUI) UseKeyDeps(key string, set *fresh.Set) {
	if u.s.curDeps != nil {
		u.s.curDeps.Merge(key, set)
	}
}
