//go:build unix

package sockfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cmdsrv/cmdsrv/internal/handover"
)

// ErrDirNotWritable is wrapped by Bind's error when path's directory does
// not let us create the socket.
var ErrDirNotWritable = errors.New("directory is not writable")

// Bind binds a unix socket at path with mode 0600, replacing a socket file
// that is already there (the caller has checked that it is stale, or
// means to take the name over, as chg's servers do), and returns the
// listener with the identity of the file it bound.
//
// The socket is bound inside a fresh 0700 directory beside path, set to
// 0600 and renamed onto path, so it is never reachable with a looser mode,
// and the process umask, which other goroutines may rely on while they
// create files, is left alone. The listener does not unlink path on
// Close: by then the name may be another server's (see Identity.RemoveAt).
//
// A socket an earlier image of this process handed over for path
// (package handover) is taken as it is, still bound and with the
// clients waiting in its backlog.
func Bind(path string) (*net.UnixListener, Identity, error) {
	if l, file, ok := TakeInherited(path); ok {
		return l, file, nil
	}
	dir := filepath.Dir(path)
	tmp, err := os.MkdirTemp(dir, ".cmdsrv-bind-")
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, Identity{}, fmt.Errorf("%s: %w", dir, ErrDirNotWritable)
		}
		return nil, Identity{}, err
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, Identity{}, err
	}
	l.SetUnlinkOnClose(false) // the listener's own name is the temporary one
	fail := func(err error) (*net.UnixListener, Identity, error) {
		l.Close()
		return nil, Identity{}, err
	}
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		return fail(err)
	}
	// Identified before the rename, which keeps device, inode and
	// mtime: after it, another server could already have replaced it.
	file, err := Identify(tmpSock)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		return fail(fmt.Errorf("moving the socket into place: %w", err))
	}
	return l, file, nil
}

// TakeInherited returns the socket handed over for path, if it is still the
// file there.
func TakeInherited(path string) (*net.UnixListener, Identity, bool) {
	f, ok := handover.Inherited(path)
	if !ok {
		return nil, Identity{}, false
	}
	defer f.Close()
	file, err := Identify(path)
	if err != nil {
		return nil, Identity{}, false
	}
	fl, err := net.FileListener(f)
	if err != nil {
		return nil, Identity{}, false
	}
	l, ok := fl.(*net.UnixListener)
	if !ok {
		fl.Close()
		return nil, Identity{}, false
	}
	l.SetUnlinkOnClose(false)
	return l, file, true
}
