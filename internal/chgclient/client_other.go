//go:build !unix

package chgclient

import (
	"context"
	"errors"
	"fmt"
)

// errNoUnixSockets is why nothing runs through a server here.
var errNoUnixSockets = errors.New("the chg client needs unix sockets and descriptor passing, which this platform lacks")

// Run hands nothing over on this platform (Windows): it returns an error
// wrapping ErrNotRun, so the caller runs the command in-process.
func Run(ctx context.Context, opts Options) (int, error) {
	return 0, fmt.Errorf("%w: %w", ErrNotRun, errNoUnixSockets)
}

// SocketDir has no socket directory to offer on this platform.
func SocketDir(app string) (string, error) {
	return "", fmt.Errorf("finding socket directory: %w", errNoUnixSockets)
}

// StdioPresent: the standard handles cannot be passed here anyway; Run
// reports that.
func StdioPresent() bool { return true }
