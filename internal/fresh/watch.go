package fresh

import (
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// debounce is how long a watcher waits after an event for more before it
// reports a change: a branch checkout or a build rewrites many files in a
// burst, which is one change. maxDelay bounds the wait under a stream of
// events that never pauses.
const (
	debounce = 100 * time.Millisecond
	maxDelay = time.Second
)

// Watcher reports, soon after the fact, that a dependency of a Set may
// have changed: it watches the parent directory of each file (an editor's
// save by rename replaces the file, and a watch on the file itself would
// follow the old one), filters the events by name, and calls onChange once
// per burst. It is an accelerator only: events get lost (NFS and FUSE give
// none, watches run out, queues overflow), and Set.Check before each
// command stays the authority. An error of the watcher (an overflow) is
// reported as a change, so that the callee checks again.
//
// A Watcher costs no wake-up while nothing changes: no timer runs between
// bursts.
type Watcher struct {
	log      hclog.Logger
	onChange func()

	fw *fsnotify.Watcher

	mu sync.Mutex
	// dirs are the watched directories, each with the names in it that
	// matter; all is set for a directory whose entries are a dependency.
	dirs map[string]*watchedDir
	// set and gen are what Sync last saw.
	set *Set
	gen int
	// unwatched counts dependencies that could not be watched; warned
	// says the fallback was logged already.
	unwatched int
	failed    map[string]bool // directories that could not be watched
	warned    bool
	timer     *time.Timer
	first     time.Time // of the burst the timer is for
	closed    bool
	done      chan struct{}
}

type watchedDir struct {
	names map[string]bool
	all   bool
}

// NewWatcher returns a Watcher that calls onChange (from a goroutine of
// its own; it must not block) after each burst of events on the
// dependencies Sync gave it. When the system gives no watcher it
// logs so once and returns a Watcher that watches nothing: the check
// before each command is then all there is.
func NewWatcher(log hclog.Logger, onChange func()) *Watcher {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	w := &Watcher{log: log, onChange: onChange, dirs: map[string]*watchedDir{}, done: make(chan struct{})}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.warned = true
		log.Warn("cannot watch files; dependencies are checked before each command only", "error", err)
		close(w.done)
		return w
	}
	w.fw = fw
	go w.loop()
	return w
}

// Watching reports whether every dependency of the last Sync is watched.
func (w *Watcher) Watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fw != nil && w.unwatched == 0 && !w.closed
}

// Watched reports whether a change of d is seen by a watch (false: only
// the check before each command sees it).
func (w *Watcher) Watched(d Dep) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fw == nil || w.closed || d.Kind == Env {
		return false
	}
	dir := filepath.Dir(d.Name)
	if d.Kind == Dir {
		dir = d.Name
	}
	return w.dirs[dir] != nil && !w.failed[dir]
}

// Sync makes the watches follow set: those its dependencies need are
// added, the others removed. It does nothing when set did not grow since
// the last call, so it may be called after every command.
func (w *Watcher) Sync(set *Set) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fw == nil || w.closed || (set == w.set && set.Gen() == w.gen) {
		return // after every command: no copy of the list
	}
	deps, gen := set.Deps()
	w.set, w.gen = set, gen
	want := map[string]*watchedDir{}
	need := func(dir string) *watchedDir {
		d := want[dir]
		if d == nil {
			d = &watchedDir{names: map[string]bool{}}
			want[dir] = d
		}
		return d
	}
	for _, d := range deps {
		switch d.Kind {
		case File:
			need(filepath.Dir(d.Name)).names[filepath.Base(d.Name)] = true
		case Dir:
			need(d.Name).all = true
			// Its own removal or replacement shows in its parent.
			need(filepath.Dir(d.Name)).names[filepath.Base(d.Name)] = true
		}
	}
	for dir := range w.dirs {
		if want[dir] == nil {
			_ = w.fw.Remove(dir)
			delete(w.dirs, dir)
		}
	}
	w.unwatched = 0
	w.failed = nil
	var failed []any
	for dir, d := range want {
		if w.dirs[dir] == nil {
			if err := w.fw.Add(dir); err != nil {
				w.unwatched += len(d.names)
				if w.failed == nil {
					w.failed = map[string]bool{}
				}
				w.failed[dir] = true
				failed = append(failed, dir, err.Error())
				continue
			}
		}
		w.dirs[dir] = d
	}
	if len(failed) > 0 && !w.warned {
		w.warned = true
		w.log.Warn("cannot watch some dependencies; they are checked before each command only", failed...)
	}
}

// Close stops watching.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	fw := w.fw
	w.mu.Unlock()
	if fw != nil {
		_ = fw.Close()
	}
	<-w.done
}

func (w *Watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.matters(ev) {
				w.kick()
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow lost events: any dependency may have changed.
			w.mu.Lock()
			warn := !w.warned
			w.warned = true
			w.mu.Unlock()
			if warn {
				w.log.Warn("file watcher error; checking all dependencies", "error", err)
			} else {
				w.log.Debug("file watcher error; checking all dependencies", "error", err)
			}
			w.kick()
		}
	}
}

// matters reports whether ev is about a dependency.
func (w *Watcher) matters(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		// An attribute change (or an atime on some systems): it changes
		// the ctime, which the check sees; it is no reason to wake.
		return false
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.dirs[dir]
	if d == nil {
		return false
	}
	if d.names[name] {
		return true
	}
	// A directory's entries: a file created, removed or renamed in it.
	return d.all && ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0
}

// kick (re)arms the debounce timer of the burst.
func (w *Watcher) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	now := time.Now()
	if w.timer == nil {
		w.first = now
		w.timer = time.AfterFunc(debounce, w.fire)
		return
	}
	if w.first.IsZero() {
		w.first = now // the timer fired: a new burst
	}
	delay := debounce
	if left := maxDelay - now.Sub(w.first); left < delay {
		delay = max(left, 0)
	}
	w.timer.Reset(delay)
}

func (w *Watcher) fire() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.first = time.Time{}
	w.mu.Unlock()
	w.onChange()
}
