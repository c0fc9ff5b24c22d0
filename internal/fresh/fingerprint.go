package fresh

import (
	"crypto/sha256"
	"io"
	"os"
	"sort"
	"time"
)

// Kind is what a dependency is.
type Kind uint8

const (
	// File is a file whose content the state was built from; its absence
	// is recorded too, so that its creation is a change.
	File Kind = iota + 1
	// Dir is a directory whose list of entries matters (a file appearing
	// in it, or going away); the content of its files does not.
	Dir
	// Env is an environment variable of the process.
	Env
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "directory"
	case Env:
		return "environment variable"
	}
	return "unknown"
}

// Dep is one dependency: an absolute path for File and Dir, a variable
// name for Env.
type Dep struct {
	Kind Kind
	Name string
}

func (d Dep) String() string { return d.Kind.String() + " " + d.Name }

// racyWindow is how recent an mtime may be for the stat to be unable to
// tell a later rewrite: file systems store timestamps in ticks (the
// kernel's coarse clock on Linux, 2 s on FAT, the server's on NFS), and a
// rewrite of the same size within one tick leaves size, mtime and ctime
// as they were. Within the window the content decides.
const racyWindow = 2 * time.Second

// maxHashSize bounds the files whose content is hashed: above it, hashing
// on every call would cost more than the check is allowed, and the stat
// alone decides (a same-size rewrite of such a file within one tick of
// the declaration goes unseen until its next stat change).
const maxHashSize = 1 << 20

// print is a dependency's fingerprint.
type print struct {
	// errKind is "" for a file or directory that could be read, "absent"
	// for one that does not exist, else the error's text: a change of
	// error is a change.
	errKind string
	st      statInfo
	// racy is set while the mtime is within racyWindow of when the print
	// was taken; sum then decides between equal stats.
	racy   bool
	hashed bool
	sum    [sha256.Size]byte
	// value and set are an environment variable's.
	value string
	set   bool
}

// take fingerprints d now.
func take(d Dep) print {
	switch d.Kind {
	case Env:
		v, ok := os.LookupEnv(d.Name)
		return print{value: v, set: ok}
	case Dir:
		return takePath(d.Name, true)
	}
	return takePath(d.Name, false)
}

func takePath(path string, dir bool) print {
	var p print
	st, err := statPath(path)
	if err != nil {
		p.errKind = errorKind(err)
		return p
	}
	p.st = st
	if dir != st.isDir() {
		// A file where a directory was declared, or the reverse: the
		// kind is in the mode, and reading stays out of it.
		return p
	}
	p.racy = isRacy(p.st.mtime, time.Now())
	if p.racy {
		p.sum, p.hashed = contentSum(path, dir, p.st.size)
	}
	return p
}

func isRacy(mtime int64, now time.Time) bool {
	if !statDecides {
		return true
	}
	return now.UnixNano()-mtime < int64(racyWindow)
}

// contentSum hashes a file's content or a directory's sorted entry names;
// false when that is not cheap or not possible.
func contentSum(path string, dir bool, size int64) (sum [sha256.Size]byte, ok bool) {
	h := sha256.New()
	if dir {
		f, err := os.Open(path)
		if err != nil {
			return sum, false
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return sum, false
		}
		sort.Strings(names)
		for _, n := range names {
			io.WriteString(h, n)
			h.Write([]byte{0})
		}
	} else {
		if size > maxHashSize {
			return sum, false
		}
		f, err := os.Open(path)
		if err != nil {
			return sum, false
		}
		_, err = io.Copy(h, io.LimitReader(f, maxHashSize+1))
		f.Close()
		if err != nil {
			return sum, false
		}
	}
	copy(sum[:], h.Sum(nil))
	return sum, true
}

// changed reports whether d no longer matches p, and updates p when it
// does match but is no longer racy, so that later checks are stat only.
// A file is stat'ed relative to dir when dir is set (see dirRef), base
// being its name there.
func (p *print) changed(d Dep, dir *dirRef, base string) bool {
	if d.Kind == Env {
		v, ok := os.LookupEnv(d.Name)
		return v != p.value || ok != p.set
	}
	now := time.Now()
	var st statInfo
	var err error
	if dir != nil {
		st, err = statAt(dir.fd, base)
	} else {
		st, err = statPath(d.Name)
	}
	if err != nil {
		return errorKind(err) != p.errKind
	}
	if p.errKind != "" || st != p.st {
		return true
	}
	if !p.racy {
		return false
	}
	if p.hashed {
		// A read error (the file went away between stat and open) is a
		// change: the next check sees what it became.
		sum, ok := contentSum(d.Name, d.Kind == Dir, st.size)
		if !ok || sum != p.sum {
			return true
		}
	}
	if !isRacy(st.mtime, now) {
		// Confirmed unchanged at a time a rewrite would move the
		// mtime: the stat decides from now on.
		p.racy, p.hashed = false, false
	}
	return false
}
