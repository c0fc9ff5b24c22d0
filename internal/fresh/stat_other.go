//go:build !unix

package fresh

import (
	"errors"
	"io/fs"
	"os"
)

// statInfo is what a stat tells portably: size, mtime in ns, mode. Where
// there is no inode or ctime, the content hash of racy files covers the
// same-size rewrites.
// statDecides is false: without a ctime, a same-size rewrite that keeps
// the mtime (a copy that preserves times, a tool that restores them) looks
// unchanged at any age, so every file within maxHashSize stays racy and
// its content decides on every check.
const statDecides = false

type statInfo struct {
	size, mtime int64
	mode        fs.FileMode
}

func (s statInfo) isDir() bool { return s.mode.IsDir() }

func statPath(path string) (statInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return statInfo{}, err
	}
	return statInfo{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}, nil
}

// errorKind reduces a stat error to what a later stat is compared on.
func errorKind(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
