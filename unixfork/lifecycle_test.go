//go:build linux || darwin

package unixfork

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAnswererServes: Stop signals a pid only when the kernel ties it to
// the socket: the listening process itself, or the parent of the worker
// that answered; a pid the answer merely names is refused.
func TestAnswererServes(t *testing.T) {
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	me := os.Getpid()

	require.True(t, answerer{peerPID: me}.serves(me), "the listener's creator")
	require.True(t, answerer{peerPID: child.Process.Pid}.serves(me), "a worker that last used the socket")
	require.True(t, answerer{peerPID: 1, helloPID: child.Process.Pid}.serves(me), "socket activation: the answering worker is the master's child")
	require.False(t, answerer{peerPID: me, helloPID: child.Process.Pid}.serves(child.Process.Pid), "a pid that neither listens nor is the worker's parent")
	require.False(t, answerer{helloPID: child.Process.Pid}.serves(child.Process.Pid), "the worker named as its own master")
	require.False(t, answerer{}.serves(0))
}
