package fresh

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// changes counts a watcher's calls.
type changes chan struct{}

func (c changes) fn() { c <- struct{}{} }

// next waits for the next call; the deadline only bounds a failure.
func (c changes) next(t *testing.T) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
	}
}

// none asserts there is no call pending after the debounce of any event
// (a burst ends within debounce; this waits several).
func (c changes) none(t *testing.T) {
	t.Helper()
	select {
	case <-c:
		t.Fatal("change reported")
	case <-time.After(5 * debounce):
	}
}

func watched(t *testing.T, deps ...Dep) (*Set, *Watcher, changes) {
	var s Set
	for _, d := range deps {
		s.Add("", d)
	}
	c := make(changes, 100)
	w := NewWatcher(nil, c.fn)
	t.Cleanup(w.Close)
	w.Sync(&s)
	require.True(t, w.Watching())
	return &s, w, c
}

func TestWatcherSeesRenameDeleteCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")
	write(t, p, "one")
	_, _, c := watched(t, Dep{Kind: File, Name: p})

	write(t, filepath.Join(dir, "unrelated"), "x")
	c.none(t)

	write(t, p+".swp", "two")
	require.NoError(t, os.Rename(p+".swp", p))
	c.next(t)
	require.NoError(t, os.Remove(p))
	c.next(t)
	write(t, p, "three")
	c.next(t)
	rewriteInPlace(t, p, "four!")
	c.next(t)
}

func TestWatcherMissingFileAndDir(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o755))
	_, _, c := watched(t, Dep{Kind: File, Name: filepath.Join(dir, "absent")}, Dep{Kind: Dir, Name: sub})
	write(t, filepath.Join(dir, "absent"), "")
	c.next(t)
	write(t, filepath.Join(sub, "new"), "")
	c.next(t)
	write(t, filepath.Join(sub, "new"), "content is not the directory's")
	c.none(t)
}

func TestWatcherBurstOf1000Files(t *testing.T) {
	dir := t.TempDir()
	var deps []Dep
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
		write(t, p, "old")
		deps = append(deps, Dep{Kind: File, Name: p})
	}
	s, _, c := watched(t, append(deps, Dep{Kind: Dir, Name: dir})...)
	for _, d := range deps {
		write(t, d.Name, "new")
	}
	c.next(t)
	_, changed := s.Check()
	require.True(t, changed)
	// The burst is reported a few times at most (maxDelay bounds the
	// wait under a stream of events), not once per file.
	time.Sleep(5 * debounce)
	require.Less(t, len(c), 10)
}

func TestWatcherSyncFollowsSet(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	_, w, c := watched(t, Dep{Kind: File, Name: a})
	var s2 Set
	s2.Add("", Dep{Kind: File, Name: b})
	w.Sync(&s2)
	write(t, a, "x")
	c.none(t)
	write(t, b, "x")
	c.next(t)
}

func TestWatcherUnwatchable(t *testing.T) {
	// A file in a directory that does not exist cannot be watched: the
	// watcher says so and the check remains.
	var s Set
	s.Add("", Dep{Kind: File, Name: filepath.Join(t.TempDir(), "no", "such")})
	w := NewWatcher(nil, func() {})
	defer w.Close()
	w.Sync(&s)
	require.False(t, w.Watching())
}
