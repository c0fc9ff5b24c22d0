//go:build !linux

package unixfork

import (
	"errors"
	"os"
)

// backlogLen is not known here: the status falls back to "at least one".
func backlogLen(f *os.File) (int, error) {
	return 0, errors.New("the length of the listen backlog is not known on this system")
}
