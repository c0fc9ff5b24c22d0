//go:build unix

package fresh

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
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
	return statWith(func(s *unix.Stat_t) error { return unix.Stat(path, s) })
}

// statWith runs one stat call, again after EINTR, and keeps what a
// fingerprint compares. x/sys/unix names the times Mtim and Ctim on every
// Unix, so this one conversion serves statPath and statAt.
func statWith(stat func(*unix.Stat_t) error) (statInfo, error) {
	var s unix.Stat_t
	for {
		err := stat(&s)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return statInfo{}, err
		}
		break
	}
	return statInfo{
		size:  s.Size,
		mtime: int64(s.Mtim.Sec)*1e9 + int64(s.Mtim.Nsec),
		ctime: int64(s.Ctim.Sec)*1e9 + int64(s.Ctim.Nsec),
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
