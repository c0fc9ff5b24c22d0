//go:build unix && !linux

package unixfork

import (
	"fmt"
	"os"
)

// pageFile is the client page's file: an unlinked temporary file (the
// page is small and rewritten in place; no shared memory object names to
// clean up after a crash).
func pageFile() (*os.File, error) {
	f, err := os.CreateTemp("", "cmdsrv-client-page-*")
	if err != nil {
		return nil, fmt.Errorf("creating the client page: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("creating the client page: %w", err)
	}
	return f, nil
}
