package unixfork

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cmdsrv/cmdsrv/internal/sockfile"
)

// ErrAddressInUse is wrapped by the error of ListenAndServe when another
// server answers on the address: "PATH: address in use".
var ErrAddressInUse = errors.New("address in use")

// boundSocket is the socket file a Server created, removed at shutdown
// only if no other server has replaced it since.
type boundSocket struct {
	path string
	file sockfile.Identity
}

// listen binds a unix socket at path with mode 0600. The socket is bound
// inside a fresh 0700 directory next to path and then renamed onto path,
// so it is never reachable with a looser mode, and the process umask (which
// other goroutines may rely on) is left alone. A live server at path is an
// error; a stale socket file (see serverAnswers) is replaced by the rename.
//
// Race: a server that binds path between our dial and our rename is
// replaced. Mercurial and tailscale accept the same window.
func listen(path string) (*net.UnixListener, *boundSocket, error) {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("cannot listen at %s: directory %s does not exist", path, dir)
	case err != nil:
		return nil, nil, fmt.Errorf("cannot listen at %s: %w", path, err)
	case !fi.IsDir():
		return nil, nil, fmt.Errorf("cannot listen at %s: %s is not a directory", path, dir)
	}
	if serverAnswers(path) {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrAddressInUse)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, nil, fmt.Errorf("cannot listen at %s: a file that is not a socket is in the way", path)
	}
	tmp, err := os.MkdirTemp(dir, ".cmdsrv-bind-")
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, nil, fmt.Errorf("cannot listen at %s: directory %s is not writable", path, dir)
		}
		return nil, nil, fmt.Errorf("cannot listen at %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot listen at %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // the listener's own name is the temporary one
	fail := func(err error) (*net.UnixListener, *boundSocket, error) {
		l.Close()
		return nil, nil, fmt.Errorf("cannot listen at %s: %w", path, err)
	}
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		return fail(err)
	}
	file, err := sockfile.Identify(path)
	if err != nil {
		return fail(err)
	}
	return l, &boundSocket{path: path, file: file}, nil
}

// remove unlinks the socket file if it is still the one we bound.
func (b *boundSocket) remove() error { return b.file.RemoveAt(b.path) }
