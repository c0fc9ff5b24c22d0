package unixfork

import (
	"sync"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
)

// This file keeps the pool's warm state fresh. Each worker reports the
// dependencies its Handler declared (msgDeps, before each ready); the
// master watches those of the current generation and, soon after one
// changes, has the pool replace the generation (pool.refresh): the new
// workers build from the new files while no old worker takes a client.
// The watch only makes the refresh early. The authority stays the check a
// worker makes before each command (session.Warm): a worker that finds
// its state stale rebuilds in place for that command and says so
// (msgStale), which refreshes the pool too.

// depsPerMsg bounds the dependencies in one msgDeps message, so that a
// Handler with thousands of files stays within maxControlMsg.
const depsPerMsg = 200

// maxStatusDeps bounds the dependencies listed in a Status (they travel in
// one control message too); DepsTotal counts them all.
const maxStatusDeps = 100

// wireDep is a dependency in a msgDeps message.
type wireDep struct {
	Kind fresh.Kind `json:"k"`
	Name string     `json:"n"`
}

// freshness is the master's view of the current generation's
// dependencies. Its own lock: fingerprinting stats files, which must not
// happen under Server.mu.
type freshness struct {
	mu  sync.Mutex
	set *fresh.Set // as the workers of generation gen reported them
	gen int
	// watcher is started with the first dependency reported: a server
	// whose Handler declares none has no watches.
	watcher *fresh.Watcher
	closed  bool
}

// addDeps takes the dependencies worker w reported. Those of an older
// generation are no longer watched: the pool is replacing it.
func (s *Server) addDeps(w *worker, deps []wireDep) {
	s.mu.Lock()
	gen, current := w.gen, w.gen == s.pool.gen
	s.mu.Unlock()
	if !current {
		return
	}
	fr := &s.fresh
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.closed {
		return
	}
	if fr.set == nil || fr.gen != gen {
		fr.set, fr.gen = &fresh.Set{}, gen
	}
	for _, d := range deps {
		// The variables are the worker's: clients bring their own, and
		// each worker checks them before each command.
		if d.Kind == fresh.File || d.Kind == fresh.Dir {
			fr.set.Add("", fresh.Dep{Kind: d.Kind, Name: d.Name})
		}
	}
	if fr.set.Len() == 0 {
		return
	}
	if fr.watcher == nil {
		fr.watcher = fresh.NewWatcher(s.logger().Named("watch"), s.depsChanged)
	}
	fr.watcher.Sync(fr.set)
}

// depsChanged runs after a burst of file events: if a dependency of the
// current generation did change, the pool replaces the generation.
func (s *Server) depsChanged() {
	fr := &s.fresh
	fr.mu.Lock()
	set, gen := fr.set, fr.gen
	fr.mu.Unlock()
	c, changed := set.Check()
	if !changed {
		return
	}
	s.event(func(pl *pool, now time.Time) {
		if pl.gen == gen {
			pl.refresh(now, c.String())
		}
	})
}

// workerStale: worker w found its state stale before a command (and
// rebuilt it for that command): the others of its generation are as
// stale.
func (s *Server) workerStale(w *worker, cause string) {
	s.event(func(pl *pool, now time.Time) {
		pl.heard(w, now)
		if w.gen == pl.gen {
			pl.refresh(now, cause)
		}
	})
}

// closeWatch stops watching, at shutdown.
func (s *Server) closeWatch() {
	fr := &s.fresh
	fr.mu.Lock()
	fr.closed = true
	fw := fr.watcher
	fr.watcher = nil
	fr.mu.Unlock()
	if fw != nil {
		fw.Close()
	}
}

// addFreshness fills in st's dependencies (s.mu not held).
func (s *Server) addFreshness(st *Status) {
	fr := &s.fresh
	fr.mu.Lock()
	set, fw := fr.set, fr.watcher
	fr.mu.Unlock()
	deps, _ := set.Deps()
	st.DepsTotal = len(deps)
	st.Watching = fw != nil && fw.Watching()
	for i, d := range deps {
		if i == maxStatusDeps {
			break
		}
		st.Deps = append(st.Deps, DepStatus{Kind: d.Kind.String(), Path: d.Name, Watched: fw != nil && fw.Watched(d)})
	}
}

// DepStatus is one dependency of the current generation, in a Status.
type DepStatus struct {
	Kind string `json:"kind"` // "file" or "directory"
	Path string `json:"path"`
	// Watched: a change is seen by a file watch and rebuilt in the
	// background; else only the check before each command sees it.
	Watched bool `json:"watched"`
}

// depsMessages splits deps into msgDeps messages.
func depsMessages(deps []fresh.Dep) []controlMsg {
	var out []controlMsg
	for len(deps) > 0 {
		n := min(len(deps), depsPerMsg)
		m := controlMsg{Type: msgDeps, Deps: make([]wireDep, n)}
		for i, d := range deps[:n] {
			m.Deps[i] = wireDep{Kind: d.Kind, Name: d.Name}
		}
		out = append(out, m)
		deps = deps[n:]
	}
	return out
}
