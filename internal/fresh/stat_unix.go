//go:build unix

package fresh

import (
	"errors"
	"syscall"
)

// statInfo is the part of a stat that changes with a file's content or
// identity: size, mtime and ctime in ns, inode and device, mode.
// statDecides: a stat with inode and ctime tells a rewrite of an old file
// (one outside racyWindow) from no change, so such files are not hashed.
const statDecides = true

type statInfo struct {
	size, mtime, ctime int64
	ino, dev           uint64
	mode               uint32
}

func (s statInfo) isDir() bool { return s.mode&syscall.S_IFMT == syscall.S_IFDIR }

// statPath stats path with the system call itself: os.Stat's FileInfo
// costs two allocations, a good part of a check of ten files.
func statPath(path string) (statInfo, error) {
	var s syscall.Stat_t
	for {
		err := syscall.Stat(path, &s)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return statInfo{}, err
		}
		break
	}
	return statInfo{
		size:  s.Size,
		mtime: mtimeOf(&s),
		ctime: ctimeOf(&s),
		ino:   uint64(s.Ino),
		dev:   uint64(s.Dev),
		mode:  uint32(s.Mode),
	}, nil
}

// errorKind reduces a stat error to what a later stat is compared on.
func errorKind(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ENOTDIR) {
		return "absent"
	}
	return err.Error()
}
