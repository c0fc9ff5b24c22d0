package procstat

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	st, err := parse([]byte("42 (a (b) c) Z 7 9 9 0 -1"))
	require.NoError(t, err)
	require.Equal(t, Stat{State: 'Z', PPID: 7, PGRP: 9}, st)
	_, err = parse([]byte("42 (x) S"))
	require.Error(t, err)
}

// TestReadAndAlive: our own process runs; a child that exited and is not
// yet waited for is a zombie, not alive; a reaped one is gone.
func TestReadAndAlive(t *testing.T) {
	st, err := Read(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getppid(), st.PPID)
	require.Equal(t, syscall.Getpgrp(), st.PGRP)
	require.True(t, Alive(os.Getpid()))

	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	require.Eventually(t, func() bool { st, _ := Read(pid); return st.Zombie() }, 5e9, 1e7)
	require.False(t, Alive(pid))
	require.NoError(t, cmd.Wait())
	require.False(t, Alive(pid))
}
