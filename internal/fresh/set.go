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
	// dirs are the parent directories of the files, by path; checks
	// counts the checks, for dirRef.checked.
	dirs   map[string]*dirRef
	checks uint64
}

// dirGroup is how many files of one directory make it worth keeping the
// directory open and stat'ing them relative to it: one stat of the
// directory's path per check confirms that the path still leads to it,
// then each file costs a lookup of its name only (about a third less
// than a whole path, here), so below 4 files it costs more than it saves.
const dirGroup = 4

// dirRef is a parent directory of declared files, open once it has
// dirGroup of them (where the system can: Linux).
type dirRef struct {
	path  string
	files int
	fd    int // -1: not open
	// dev and ino identify the open directory; a check confirms that
	// path still leads to it before stat'ing names relative to it.
	dev, ino uint64
	// checked is the Set.checks of the last confirmation, ok its result.
	checked uint64
	ok      bool
}

type item struct {
	dep Dep
	// dir and base locate a file relative to its open parent directory.
	dir  *dirRef
	base string
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
	it := item{dep: d, key: key}
	if d.Kind == File {
		it.dir, it.base = s.dirLocked(filepath.Dir(d.Name)), filepath.Base(d.Name)
	}
	s.items = append(s.items, it)
	// Taken under the lock so that a concurrent Check never sees an
	// item without its fingerprint; a stat is short.
	s.items[len(s.items)-1].p = take(d)
	s.gen++
}

// dirLocked returns the dirRef of dir, counting one more file in it and
// opening it when that makes a group.
func (s *Set) dirLocked(dir string) *dirRef {
	if s.dirs == nil {
		s.dirs = make(map[string]*dirRef)
	}
	r := s.dirs[dir]
	if r == nil {
		r = &dirRef{path: dir, fd: -1}
		s.dirs[dir] = r
	}
	r.files++
	if r.files >= dirGroup && r.fd < 0 {
		openDir(r)
	}
	return r
}

// usable reports whether r's files can be stat'ed relative to it in this
// check: it is open and its path still leads to it (one stat per check).
func (s *Set) usable(r *dirRef) bool {
	if r == nil || r.fd < 0 {
		return false
	}
	if r.checked != s.checks {
		r.checked = s.checks
		st, err := statPath(r.path)
		r.ok = err == nil && st.isDir() && sameDir(st, r)
	}
	return r.ok
}

// Check compares every dependency with its fingerprint and returns the
// first that changed.
func (s *Set) Check() (Change, bool) {
	if s == nil {
		return Change{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	for i := range s.items {
		it := &s.items[i]
		var dir *dirRef
		if s.usable(it.dir) {
			dir = it.dir
		}
		if it.p.changed(it.dep, dir, it.base) {
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
		// The other set's directories are confirmed on its checks.
		it.dir = nil
		if it.dep.Kind == File {
			it.dir = s.dirLocked(filepath.Dir(it.dep.Name))
		}
		s.index[it.dep] = len(s.items)
		s.items = append(s.items, it)
		s.gen++
	}
}
