//go:build unix

package chgclient

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// sock is a connected unix stream socket used with plain blocking system
// calls. The client talks to one server from one goroutine, so the net
// package's poller buys nothing here, and setting it up (epoll instance,
// eventfd, registration, a parked goroutine per read) is a measurable part
// of a client run that lasts a few milliseconds.
type sock struct {
	fd int
}

// dialSock connects to the unix socket at path.
func dialSock(path string) (*sock, error) {
	fd, err := sysfd.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("creating socket: %w", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &connectError{path: path, err: err}
	}
	return &sock{fd: fd}, nil
}

// connectError is a failed connect; it unwraps to the errno, so that
// errors.Is(err, syscall.ENOENT) works as with net.Dial's errors.
type connectError struct {
	path string
	err  error
}

func (e *connectError) Error() string { return fmt.Sprintf("dial unix %s: %v", e.path, e.err) }
func (e *connectError) Unwrap() error { return e.err }

var errClosed = errors.New("use of closed connection")

func (s *sock) Read(p []byte) (int, error) {
	if s.fd < 0 {
		return 0, errClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(s.fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (s *sock) Write(p []byte) (int, error) {
	if s.fd < 0 {
		return 0, errClosed
	}
	done := 0
	for done < len(p) {
		n, err := unix.Write(s.fd, p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("write: %w", err)
		}
		done += n
	}
	return done, nil
}

// sendFds writes data with fds attached (SCM_RIGHTS).
func (s *sock) sendFds(data []byte, fds ...int) error {
	if s.fd < 0 {
		return errClosed
	}
	return fdpass.Send(fdpass.Blocking(s.fd), data, fds...)
}

func (s *sock) Close() error {
	if s.fd < 0 {
		return errClosed
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
