package unixfork

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// pageFile is the client page's file: memory only (memfd), never written
// back to a disk.
func pageFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("cmdsrv-client-page", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "cmdsrv-client-page"), nil
}
