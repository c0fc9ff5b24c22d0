//go:build unix

package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openOwned opens path with flag (O_CREATE allowed) without following a
// symbolic link as its last component, then refuses what another user
// could have planted there: a file owned by another user (root's files
// are ours to use too: /dev/null), or a regular file with other hard
// links. The checks are made on the open descriptor, so the file cannot
// be swapped in between.
func openOwned(path string, flag int, perm uint32) (*os.File, error) {
	// O_NONBLOCK: open(2) of a FIFO planted there would otherwise wait
	// for a reader forever (at start, or at a log rotation, under the
	// log's lock). It fails with ENXIO without a reader, and the type
	// check below refuses it with one.
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, perm)
	if errors.Is(err, unix.ELOOP) {
		return nil, &NotOwnedError{Path: path, Reason: "is a symbolic link"}
	}
	if errors.Is(err, unix.ENXIO) {
		// A FIFO with no reader or a socket.
		reason := "is not a regular file"
		if fi, lerr := os.Lstat(path); lerr == nil {
			reason = kindReason(fi.Mode())
		}
		return nil, &NotOwnedError{Path: path, Reason: reason}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	// Regular files, and character devices (/dev/null, a terminal); a
	// FIFO, socket, directory or block device is no place for a log or
	// pid file.
	if typ := uint32(st.Mode) & unix.S_IFMT; typ != unix.S_IFREG && typ != unix.S_IFCHR {
		unix.Close(fd)
		return nil, &NotOwnedError{Path: path, Reason: kindReason(statType(typ))}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	if uid := os.Geteuid(); int(st.Uid) != uid && st.Uid != 0 {
		f.Close()
		return nil, &NotOwnedError{Path: path, Reason: fmt.Sprintf("is owned by uid %d, not %d", st.Uid, uid)}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
		f.Close()
		return nil, &NotOwnedError{Path: path, Reason: fmt.Sprintf("has %d hard links", st.Nlink)}
	}
	return f, nil
}

// statType maps a stat(2) file type to the os package's mode bits.
func statType(typ uint32) os.FileMode {
	switch typ {
	case unix.S_IFIFO:
		return os.ModeNamedPipe
	case unix.S_IFSOCK:
		return os.ModeSocket
	case unix.S_IFDIR:
		return os.ModeDir
	case unix.S_IFBLK:
		return os.ModeDevice
	}
	return os.ModeIrregular
}

// kindReason says what a file that is not a regular one is.
func kindReason(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "is a named pipe (FIFO), not a regular file"
	case m&os.ModeSocket != 0:
		return "is a socket, not a regular file"
	case m.IsDir():
		return "is a directory, not a regular file"
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		return "is a block device, not a regular file"
	}
	return "is not a regular file"
}

// replaceFile writes data to a new file in dir and renames it to base,
// both relative to one descriptor of dir: whatever is at base (a
// symbolic link included) is replaced, never written through, and
// readers see the old content or the new, never a part.
func replaceFile(dir, base string, data []byte, perm uint32) error {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	var tmp string
	var fd int
	for try := 0; ; try++ {
		var r [6]byte
		_, _ = rand.Read(r[:])
		tmp = "." + base + ".tmp-" + hex.EncodeToString(r[:])
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) || try >= 10 {
			return &os.PathError{Op: "create", Path: dir + "/" + tmp, Err: err}
		}
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
		if err != nil {
			err = &os.LinkError{Op: "rename", Old: tmp, New: base, Err: err}
		}
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
	}
	return err
}
