package unixfork

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// orphanHelperEnv makes the test binary listen at the address, hand the
// listening socket to a `sleep` that never accepts, print its pid and
// exit: what a killed master leaves when a stuck worker holds the socket.
const orphanHelperEnv = "UNIXFORK_TEST_ORPHAN"

func orphanHelper(addr string) int {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	if err != nil {
		fmt.Println("file:", err)
		return 1
	}
	holder := exec.Command("sleep", "1000")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	fmt.Println(holder.Process.Pid)
	return 0
}

// TestStaleSocketHeldByOrphan: a socket whose creator is gone is stale
// even though the kernel still accepts connections on it (another process
// holds it and never answers); a new server replaces it.
func TestStaleSocketHeldByOrphan(t *testing.T) {
	addr := filepath.Join(testutil.ShortDir(t), "s")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"="+addr)
	out, err := cmd.Output()
	require.NoError(t, err, "output: %s", out)
	holder, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err, "output: %s", out)
	t.Cleanup(func() { _ = syscall.Kill(holder, syscall.SIGKILL) })

	c, err := net.Dial("unix", addr)
	require.NoError(t, err, "the kernel accepts on the orphaned socket")
	c.Close()
	require.False(t, serverAnswers(addr))

	l, bound, err := listen(addr)
	require.NoError(t, err, "the stale socket is replaced")
	defer l.Close()
	defer bound.remove()
	require.True(t, serverAnswers(addr), "our own socket is live")
	_, _, err = listen(addr)
	require.ErrorIs(t, err, ErrAddressInUse)
}
