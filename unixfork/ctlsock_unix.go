//go:build unix && !darwin

package unixfork

import (
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// controlSocketpair creates the master-worker control channel: one
// message per packet, and end of input when the other side closes.
func controlSocketpair() ([2]int, error) {
	return sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
}
