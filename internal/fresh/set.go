package fresh

import (
	"path/filepath"
	"sync"
)

// Set is the dependencies of one warm state with their fingerprints. The
// zero value is empty and ready; a Set is safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	items []item
	index map[Dep]int
	// gen counts additions, so that a watcher knows when to watch more.
	gen int
}

type item struct {
	dep Dep
	// key is the Request.UseKey key the dependency was declared for, ""
	// for the Handler's own.
	key string
	p   print
}

// Change says which dependency changed.
type Change struct {
	Dep Dep
	// Key is the key it was declared for ("" for the constructor's).
	Key string
}

func (c Change) String() string {
	if c.Key != "" {
		return c.Dep.String() + " (key " + c.Key + ")"
	}
	return c.Dep.String()
}

// Add declares d as a dependency (of key, "" for the state as a whole)
// and fingerprints it now, unless it is already declared: the first
// fingerprint, taken before the state read it, stays the reference. A
// relative path is made absolute against the process's directory.
func (s *Set) Add(key string, d Dep) {
	if d.Kind != Env && !filepath.IsAbs(d.Name) {
		if abs, err := filepath.Abs(d.Name); err == nil {
			d.Name = abs
		}
	}
	if d.Kind != Env {
		d.Name = filepath.Clean(d.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[d]; ok {
		return
	}
	if s.index == nil {
		s.index = make(map[Dep]int)
	}
	s.index[d] = len(s.items)
	s.items = append(s.items, item{dep: d, key: key})
	// Taken under the lock so that a concurrent Check never sees an
	// item without its fingerprint; a stat is short.
	s.items[len(s.items)-1].p = take(d)
	s.gen++
}

// Check compares every dependency with its fingerprint and returns the
// first that changed.
func (s *Set) Check() (Change, bool) {
	if s == nil {
		return Change{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.items {
		it := &s.items[i]
		if it.p.changed(it.dep) {
			return Change{Dep: it.dep, Key: it.key}, true
		}
	}
	return Change{}, false
}

// Len returns the number of dependencies.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// Gen returns the count of additions so far: a set whose Gen did not
// change has the same dependencies.
func (s *Set) Gen() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Deps returns the dependencies, in the order they were declared, and
// the count of additions so far.
func (s *Set) Deps() ([]Dep, int) {
	if s == nil {
		return nil, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Dep, len(s.items))
	for i, it := range s.items {
		out[i] = it.dep
	}
	return out, s.gen
}

// SetOf returns the Set behind a *protocol.Deps (nil for anything else).
// Package protocol sets it, as it cannot be imported from here.
var SetOf = func(deps any) *Set { return nil }

// Merge declares the dependencies of o in s, for key, with the
// fingerprints o took: they were taken before the state of key read them.
// Dependencies s has already keep their own.
func (s *Set) Merge(key string, o *Set) {
	if o == nil || o == s {
		return
	}
	o.mu.Lock()
	items := append([]item(nil), o.items...)
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		if _, ok := s.index[it.dep]; ok {
			continue
		}
		if s.index == nil {
			s.index = make(map[Dep]int)
		}
		it.key = key
		s.index[it.dep] = len(s.items)
		s.items = append(s.items, it)
		s.gen++
	}
}
