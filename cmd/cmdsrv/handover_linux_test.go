package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// replaceBinary puts a new copy of the reference binary at path the way
// an install does: written beside it, then renamed over it (a new inode;
// the running one cannot be written to). It returns the new inode.
func replaceBinary(t *testing.T, path string) uint64 {
	t.Helper()
	src, err := os.ReadFile(testutil.Binary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path+".new", src, 0o755))
	require.NoError(t, os.Rename(path+".new", path))
	return inode(t, path)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return st.Ino
}

// runningInode is the inode of the program pid runs (0 once it is gone).
func runningInode(pid int) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/exe", pid), &st) != nil {
		return 0
	}
	return st.Ino
}

// requireRunsBinary checks that the server pid and every worker of it run
// the binary with inode ino.
func requireRunsBinary(t *testing.T, pid int, ino uint64) {
	t.Helper()
	require.Equal(t, ino, runningInode(pid), "the server runs the new binary")
	workers := testutil.Processes(func(p int, _ []string) bool {
		_, ppid := testutil.ProcStat(p)
		return ppid == pid
	})
	for _, w := range workers {
		if state, _ := testutil.ProcStat(w); state == 'Z' {
			continue
		}
		require.Equal(t, ino, runningInode(w), "worker %d runs the new binary", w)
	}
}

// TestBinaryReplaced: a chgunix server whose binary is replaced by a new
// build hands over to it in place: the same pid and socket, no second
// server, calls right after the change and later all answered, every
// process of the server running the new binary. Through the own client
// mode, cmdsrv-chg and Mercurial's chg.
func TestBinaryReplaced(t *testing.T) {
	check := func(t *testing.T, dir, app string, call func()) {
		call()
		pids := serverPids(dir)
		require.Len(t, pids, 1)
		pid := pids[0]

		// Right after the change: validate finds the binary changed and
		// waits for the hand-over before the client reconnects.
		ino := replaceBinary(t, app)
		call()
		require.Equal(t, []int{pid}, serverPids(dir), "the same server, handed over")
		requireRunsBinary(t, pid, ino)

		// Without a call: the master's watch hands over in the
		// background, and the next call finds the new image ready.
		ino = replaceBinary(t, app)
		deadline := time.Now().Add(20 * time.Second)
		for runningInode(pid) != ino {
			require.True(t, time.Now().Before(deadline), "no hand-over without a call")
			time.Sleep(10 * time.Millisecond)
		}
		call()
		require.Equal(t, []int{pid}, serverPids(dir))
		requireRunsBinary(t, pid, ino)
	}
	forClients(t, func(t *testing.T, kind string) {
		app := filepath.Join(t.TempDir(), "app")
		replaceBinary(t, app)
		e := newClientEnv(t, kind, app)
		check(t, e.dir, app, func() {
			code, out, errs := e.served("echo", "hi")
			require.Equal(t, 0, code, errs)
			require.Equal(t, "hi\n", out)
		})
	})
	t.Run("hg-chg", func(t *testing.T) {
		chg := testutil.NeedExternal(t, "chg")
		app := filepath.Join(t.TempDir(), "app")
		replaceBinary(t, app)
		dir := testutil.ShortDir(t)
		defer killServers(t, dir)
		env := append(baseEnv(t), "CHGHG="+app, "CHGSOCKNAME="+filepath.Join(dir, "s"))
		check(t, dir, app, func() {
			cmd := exec.Command(chg, "echo", "hi")
			cmd.Env = env
			code, out, errs := runCmd(t, cmd)
			require.Equal(t, 0, code, errs)
			require.Equal(t, "hi\n", out)
		})
	})
}

// TestBinaryReplacedBusy: a command running when the binary is replaced
// finishes on the old image's worker with its output and status; the
// hand-over does not wait for it, and the next call runs on the new
// binary meanwhile.
func TestBinaryReplacedBusy(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	replaceBinary(t, app)
	e := newClientEnv(t, "own", app)
	code, _, errs := e.served("true")
	require.Equal(t, 0, code, errs)
	pid := serverPids(e.dir)[0]

	slow := e.command("sleep", "1.5")
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := runCmd(t, slow)
		done <- result{code, out, errs}
	}()
	time.Sleep(300 * time.Millisecond) // the command is running
	ino := replaceBinary(t, app)
	code, out, errs := e.served("echo", "new")
	require.Equal(t, 0, code, errs)
	require.Equal(t, "new\n", out)
	require.Equal(t, ino, runningInode(pid))
	select {
	case r := <-done:
		t.Fatalf("the running command ended before its time: %+v", r)
	default:
	}
	r := <-done
	require.Equal(t, 0, r.code, r.errs)
	require.NotContains(t, r.errs, "client:")
}
