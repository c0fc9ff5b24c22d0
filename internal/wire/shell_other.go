//go:build !unix

package wire

import (
	"os/exec"
	"time"
)

// setOwnGroup: no process groups here; the shell alone is killed.
func setOwnGroup(c *exec.Cmd) bool { return false }

func hangUpGroup(pgid int, grace time.Duration) {}
