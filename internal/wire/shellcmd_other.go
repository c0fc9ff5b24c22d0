//go:build !windows

package wire

import (
	"context"
	"os/exec"
)

// shellCommand returns the command that runs cmd with /bin/sh -c.
func shellCommand(ctx context.Context, sh Shell, cmd string) *exec.Cmd {
	return exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
}
