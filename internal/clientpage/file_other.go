//go:build unix && !linux

package clientpage

import (
	"fmt"
	"os"
)

// NewFile returns a file for a client page, or for output kept for the
// process that answers in a dead one's place: an unlinked temporary file
// (small and rewritten in place; no shared memory object names to clean
// up after a crash).
func NewFile(name string) (*os.File, error) {
	f, err := os.CreateTemp("", name+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	return f, nil
}
