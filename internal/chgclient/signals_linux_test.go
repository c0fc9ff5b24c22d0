package chgclient

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// caughtSignals is this process's SigCgt mask, as the kernel has it.
func caughtSignals(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			require.NoError(t, err)
			return mask
		}
	}
	t.Fatal("no SigCgt in /proc/self/status")
	return 0
}

// TestReleaseGivesSIGTSTPBack: after forwarding with a restore (a library
// caller of Run with ExitAfter unset), SIGTSTP has its default action
// again, so the caller can still be stopped with Ctrl-Z; signal.Stop alone
// leaves the runtime's handler, which drops the signal. A second command
// in the same process forwards SIGTSTP again: the runtime does not
// reinstall a handler it believes is still there.
func TestReleaseGivesSIGTSTPBack(t *testing.T) {
	tstp := uint64(1) << (uint(syscall.SIGTSTP) - 1)
	for run := 1; run <= 2; run++ {
		require.Zero(t, caughtSignals(t)&tstp, "run %d: SIGTSTP caught before", run)
		sleeper := exec.Command("sleep", "60")
		require.NoError(t, sleeper.Start())

		f := forwardSignals(sleeper.Process.Pid, sleeper.Process.Pid, true)
		f.catch()
		if canRestoreTSTP {
			require.NotZero(t, caughtSignals(t)&tstp, "run %d: SIGTSTP not forwarded", run)
		}
		f.release(true)
		require.Zero(t, caughtSignals(t)&tstp, "run %d: SIGTSTP still caught after release: Ctrl-Z would be dropped", run)
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	}
}
