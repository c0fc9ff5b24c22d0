// Package selfexe finds the path under which a server re-executes its own
// binary (workers, the detached daemon child).
//
// On Linux that is /proc/self/exe, which the kernel resolves to the file
// the process runs even when a rebuild has replaced or removed it on disk,
// so a server never starts children of another version. Elsewhere it is
// os.Executable: on macOS the path the binary was started from, on FreeBSD
// the path the kernel recorded (KERN_PROC_PATHNAME), so a binary replaced
// on disk in place is what the next child runs. chg's mtime hash (and
// cmdsrv's own client mode, which uses the same check) then sends new
// clients to a fresh server; children of the old server may still be
// started from the new file until it exits.
package selfexe

import (
	"fmt"
	"os"
)

func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("getting executable: %w", err)
	}
	return exe, nil
}
