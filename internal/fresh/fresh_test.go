package fresh

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// rewriteInPlace writes content over path without truncating it first
// or changing its inode, keeping mtime: the rewrite the stat cannot see.
func rewriteInPlace(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(content), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
}

func TestFileChanges(t *testing.T) {
	cases := []struct {
		name   string
		before func(t *testing.T, path string)
		change func(t *testing.T, path string)
	}{
		{"rewritten in place, same size, same mtime", func(t *testing.T, p string) { write(t, p, "alpha\n") },
			func(t *testing.T, p string) { rewriteInPlace(t, p, "gamma\n") }},
		{"rewritten, other size", func(t *testing.T, p string) { write(t, p, "alpha\n") },
			func(t *testing.T, p string) { write(t, p, "alpha\nbeta\n") }},
		{"saved by rename", func(t *testing.T, p string) { write(t, p, "alpha\n") },
			func(t *testing.T, p string) {
				write(t, p+".tmp", "gamma\n")
				require.NoError(t, os.Rename(p+".tmp", p))
			}},
		{"deleted", func(t *testing.T, p string) { write(t, p, "alpha\n") },
			func(t *testing.T, p string) { require.NoError(t, os.Remove(p)) }},
		{"created where missing", func(t *testing.T, p string) {},
			func(t *testing.T, p string) { write(t, p, "") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			c.before(t, p)
			var s Set
			s.Add("", Dep{Kind: File, Name: p})
			_, changed := s.Check()
			require.False(t, changed, "nothing changed yet")
			c.change(t, p)
			ch, changed := s.Check()
			require.True(t, changed)
			require.Equal(t, p, ch.Dep.Name)
		})
	}
}

func TestOldFileDecidedByStat(t *testing.T) {
	// A file last written long ago is not racy: a same-size rewrite that
	// kept its mtime is then seen by its ctime, and the check reads no
	// content.
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "alpha\n")
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(p, old, old))
	var s Set
	s.Add("", Dep{Kind: File, Name: p})
	// Without a ctime (Windows) the stat cannot decide at any age: the
	// content is hashed instead.
	require.Equal(t, !statDecides, s.items[0].p.racy)
	require.Equal(t, !statDecides, s.items[0].p.hashed)
	_, changed := s.Check()
	require.False(t, changed)
	rewriteInPlace(t, p, "gamma\n")
	_, changed = s.Check()
	require.True(t, changed, "ctime moved, or the content hash differs")
}

func TestRacyBecomesStatOnly(t *testing.T) {
	if !statDecides {
		t.Skip("without a ctime every file stays racy: its content decides on every check")
	}
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "alpha\n")
	var s Set
	s.Add("", Dep{Kind: File, Name: p})
	it := &s.items[0]
	require.True(t, it.p.racy, "just written")
	require.True(t, it.p.hashed)
	// Pretend the file was written before the window: the next check
	// that finds it unchanged stops hashing.
	it.p.st.mtime -= int64(2 * racyWindow)
	require.NoError(t, os.Chtimes(p, time.Unix(0, it.p.st.mtime), time.Unix(0, it.p.st.mtime)))
	st, err := statPath(p)
	require.NoError(t, err)
	it.p.st = st
	_, changed := s.Check()
	require.False(t, changed)
	require.False(t, it.p.racy)
}

func TestDirEntries(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "1")
	var s Set
	s.Add("k", Dep{Kind: Dir, Name: dir})
	write(t, filepath.Join(dir, "a"), "22") // content is not the directory's
	_, changed := s.Check()
	require.False(t, changed)
	write(t, filepath.Join(dir, "b"), "")
	ch, changed := s.Check()
	require.True(t, changed)
	require.Equal(t, Change{Dep: Dep{Kind: Dir, Name: dir}, Key: "k"}, ch)
	require.Equal(t, "directory "+dir+" (key k)", ch.String())
}

func TestDirEntryRenamedSameTick(t *testing.T) {
	// A rename inside the directory within one tick keeps the directory's
	// size and, on a coarse clock, its mtime: the entry names decide.
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "1")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	var s Set
	s.Add("", Dep{Kind: Dir, Name: dir})
	require.NoError(t, os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	require.NoError(t, os.Chtimes(dir, fi.ModTime(), fi.ModTime()))
	st, err := statPath(dir)
	require.NoError(t, err)
	s.items[0].p.st = st // only the names tell
	_, changed := s.Check()
	require.True(t, changed)
}

func TestEnv(t *testing.T) {
	t.Setenv("FRESH_TEST_VAR", "one")
	var s Set
	s.Add("", Dep{Kind: Env, Name: "FRESH_TEST_VAR"})
	s.Add("", Dep{Kind: Env, Name: "FRESH_TEST_UNSET"})
	_, changed := s.Check()
	require.False(t, changed)
	t.Setenv("FRESH_TEST_UNSET", "")
	ch, changed := s.Check()
	require.True(t, changed, "set, even empty, is a change")
	require.Equal(t, "FRESH_TEST_UNSET", ch.Dep.Name)
}

func TestAddKeepsFirstPrintAndMerge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	var s Set
	s.Add("", Dep{Kind: File, Name: p})
	write(t, p, "x")
	s.Add("", Dep{Kind: File, Name: p}) // again, after the change
	require.Equal(t, 1, s.Len())
	_, changed := s.Check()
	require.True(t, changed, "the first fingerprint is the reference")

	var key, all Set
	q := filepath.Join(t.TempDir(), "g")
	key.Add("", Dep{Kind: File, Name: q})
	all.Merge("proj", &key)
	write(t, q, "y")
	ch, changed := all.Check()
	require.True(t, changed)
	require.Equal(t, "proj", ch.Key)
}

func BenchmarkCheck10(b *testing.B) {
	dir := b.TempDir()
	var s Set
	for i := 0; i < 10; i++ {
		p := filepath.Join(dir, fmt.Sprint(i))
		require.NoError(b, os.WriteFile(p, []byte("x"), 0o644))
		old := time.Now().Add(-time.Hour)
		require.NoError(b, os.Chtimes(p, old, old))
		s.Add("", Dep{Kind: File, Name: p})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, changed := s.Check(); changed {
			b.Fatal("changed")
		}
	}
}

// BenchmarkCheck10Dirs is BenchmarkCheck10 with each file in a directory
// of its own: every one is stat'ed by its whole path.
func BenchmarkCheck10Dirs(b *testing.B) {
	var s Set
	for i := 0; i < 10; i++ {
		p := filepath.Join(b.TempDir(), "f")
		require.NoError(b, os.WriteFile(p, []byte("x"), 0o644))
		old := time.Now().Add(-time.Hour)
		require.NoError(b, os.Chtimes(p, old, old))
		s.Add("", Dep{Kind: File, Name: p})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, changed := s.Check(); changed {
			b.Fatal("changed")
		}
	}
}

func TestDirectoryReplacedUnderGroupedFiles(t *testing.T) {
	if !statDecides {
		t.Skip("without inodes a directory replaced by files of the same content is the same content: nothing to rebuild")
	}
	// Files stat'ed relative to their open directory: a directory swapped
	// for another (a checkout that renames the tree) is seen, although
	// the old directory's files are untouched.
	root := t.TempDir()
	dir := filepath.Join(root, "conf")
	require.NoError(t, os.Mkdir(dir, 0o755))
	old := time.Now().Add(-time.Hour)
	var s Set
	for i := 0; i < dirGroup+1; i++ {
		p := filepath.Join(dir, fmt.Sprint(i))
		write(t, p, "x")
		require.NoError(t, os.Chtimes(p, old, old))
		s.Add("", Dep{Kind: File, Name: p})
	}
	if s.dirs[dir].fd < 0 && runtime.GOOS == "linux" {
		t.Fatal("the directory of a group of files is not open")
	}
	_, changed := s.Check()
	require.False(t, changed)
	require.NoError(t, os.Rename(dir, dir+".old"))
	require.NoError(t, os.Mkdir(dir, 0o755))
	for i := 0; i < dirGroup+1; i++ {
		p := filepath.Join(dir, fmt.Sprint(i))
		write(t, p, "x")
		require.NoError(t, os.Chtimes(p, old, old))
	}
	_, changed = s.Check()
	require.True(t, changed)
}
