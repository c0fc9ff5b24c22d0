package clientpage

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// NewFile returns a file for a client page, or for output kept for the
// process that answers in a dead one's place: memory only (memfd), never
// written back to a disk.
func NewFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
