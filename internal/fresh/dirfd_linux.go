package fresh

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// openDir opens r for stat'ing its files by name (O_PATH: no read
// permission needed, nothing read) and records its identity. The
// descriptor is closed when r is no longer reachable: a Set has no Close,
// as it lives inside a Handler that is simply dropped when rebuilt.
func openDir(r *dirRef) {
	fd, err := unix.Open(r.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // stat'ed by path, as before
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return
	}
	r.fd, r.dev, r.ino = fd, uint64(st.Dev), uint64(st.Ino)
	runtime.AddCleanup(r, func(fd int) { unix.Close(fd) }, fd)
}

// statAt stats name in the directory open as dirfd.
func statAt(dirfd int, name string) (statInfo, error) {
	return statWith(func(s *unix.Stat_t) error { return unix.Fstatat(dirfd, name, s, 0) })
}

// sameDir reports whether st is the directory open in r.
func sameDir(st statInfo, r *dirRef) bool { return st.dev == r.dev && st.ino == r.ino }
