//go:build unix

package chg

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/sockfile"
)

// socket is a chg server's listening socket and the identity of its file:
// another server that takes the name over (rename onto it) or a client
// that unlinks it (validate's "unlink") changes it, and this server then
// exits.
type socket struct {
	l     *net.UnixListener
	paths []string // where the socket may be found while it is ours
	file  sockfile.Identity
}

// tempName is a per-process temporary name beside path, for atomic renames.
func tempName(path string) string {
	return path + "." + strconv.Itoa(os.Getpid()) + ".tmp"
}

// bindSocket binds real (sockfile.Bind: mode 0600 from the start, the
// process umask left alone), replacing an older server's socket there,
// which then exits, and when address differs points address at it with a
// symlink, renamed into place. The listener never unlinks the name on
// Close: by then it may be another server's; Shutdown removes it only
// while it is still ours.
func bindSocket(address, real string) (*socket, error) {
	l, file, err := sockfile.Bind(real)
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", real, err)
	}
	s := &socket{l: l, paths: []string{real}, file: file}
	if address == real {
		// chgserver.skiphash: chg renames ADDR (SOCKNAME.PID) to SOCKNAME
		// itself once it has connected; the socket stays ours there.
		if base := stripSuffix(address); base != address {
			s.paths = append(s.paths, base)
		}
		return s, nil
	}
	link := tempName(address)
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Base(real), link); err != nil {
		return s, fmt.Errorf("linking %s: %w", address, err)
	}
	if err := os.Rename(link, address); err != nil {
		_ = os.Remove(link)
		return s, fmt.Errorf("linking %s: %w", address, err)
	}
	return s, nil
}

// stripSuffix drops what follows the first '.' of the base name.
func stripSuffix(path string) string {
	dir, name := filepath.Split(path)
	name, _, _ = strings.Cut(name, ".")
	return filepath.Join(dir, name)
}

// ownedPath returns where the socket file still is this server's, or "".
func (s *socket) ownedPath() string {
	for _, p := range s.paths {
		if s.file.At(p) {
			return p
		}
	}
	return ""
}

// owned reports whether the socket file is still this server's.
func (s *socket) owned() bool { return s.ownedPath() != "" }

// unlinkIfOwned removes the socket file if it is still this server's.
func (s *socket) unlinkIfOwned() error {
	if p := s.ownedPath(); p != "" {
		return s.file.RemoveAt(p)
	}
	return nil
}
