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

// listen binds a unix socket at path with mode 0600 (sockfile.Bind: never
// reachable with a looser mode, the process umask left alone). A live
// server at path is an error; a stale socket file (see serverAnswers) is
// replaced.
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
	if l, file, ok := sockfile.TakeInherited(path); ok {
		return l, &boundSocket{path: path, file: file}, nil // a hand-over
	}
	if serverAnswers(path) {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrAddressInUse)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, nil, fmt.Errorf("cannot listen at %s: a file that is not a socket is in the way", path)
	}
	l, file, err := sockfile.Bind(path)
	switch {
	case errors.Is(err, sockfile.ErrDirNotWritable):
		return nil, nil, fmt.Errorf("cannot listen at %s: directory %s is not writable", path, dir)
	case err != nil:
		return nil, nil, fmt.Errorf("cannot listen at %s: %w", path, err)
	}
	return l, &boundSocket{path: path, file: file}, nil
}

// remove unlinks the socket file if it is still the one we bound.
func (b *boundSocket) remove() error { return b.file.RemoveAt(b.path) }
