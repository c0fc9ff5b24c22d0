//go:build unix

package chgclient

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// SocketDir returns the private directory for app's sockets, creating it
// with mode 0700: $XDG_RUNTIME_DIR/APP, else /tmp/APP-UID. A directory that
// another user owns, or that others can enter, is refused (ErrForeignDir).
func SocketDir(app string) (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d", app, os.Getuid()))
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		dir = filepath.Join(x, app)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("checking socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s is not a directory", ErrForeignDir, dir)
	}
	if int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("%w: %s is owned by uid %d", ErrForeignDir, dir, st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %o", ErrForeignDir, dir, fi.Mode().Perm())
	}
	return dir, nil
}
