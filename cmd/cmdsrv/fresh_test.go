//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// initFileEnv is CMDSRV_DEBUG_INIT_FILE: the reference Handler reads it in
// its constructor and declares it as a dependency.
const testInitFileEnv = "CMDSRV_DEBUG_INIT_FILE"

// freshFiles is the state the tests change: a directory of 1,000 files,
// one of which (f0500) is the init file.
type freshFiles struct {
	dir, path string
}

func newFreshFiles(t *testing.T) *freshFiles {
	t.Helper()
	f := &freshFiles{dir: t.TempDir()}
	for i := 0; i < 1000; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, fmt.Sprintf("f%04d", i)), []byte(fmt.Sprintf("v1 %d\n", i)), 0o644))
	}
	f.path = filepath.Join(f.dir, "f0500")
	require.NoError(t, os.WriteFile(f.path, []byte("alpha\n"), 0o644))
	return f
}

// freshSteps are the kinds of change, in order, each with what
// debuginitfile prints after it. Every step is checked by a call made
// right after the change, without waiting for any watcher.
func freshSteps(t *testing.T, f *freshFiles) []struct {
	name   string
	change func()
	want   string
} {
	return []struct {
		name   string
		change func()
		want   string
	}{
		{"rewritten in place, same size, mtime kept", func() {
			fi, err := os.Stat(f.path)
			require.NoError(t, err)
			w, err := os.OpenFile(f.path, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = w.WriteAt([]byte("gamma\n"), 0)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			require.NoError(t, os.Chtimes(f.path, fi.ModTime(), fi.ModTime()))
		}, "gamma\n"},
		{"saved by rename", func() {
			require.NoError(t, os.WriteFile(f.path+".swp", []byte("renamed\n"), 0o644))
			require.NoError(t, os.Rename(f.path+".swp", f.path))
		}, "renamed\n"},
		{"deleted", func() { require.NoError(t, os.Remove(f.path)) }, "missing\n"},
		{"created where missing", func() {
			require.NoError(t, os.WriteFile(f.path, []byte("created\n"), 0o644))
		}, "created\n"},
		{"directory of 1,000 files rewritten at once", func() {
			for i := 0; i < 1000; i++ {
				require.NoError(t, os.WriteFile(filepath.Join(f.dir, fmt.Sprintf("f%04d", i)), []byte(fmt.Sprintf("v2 %d\n", i)), 0o644))
			}
		}, "v2 500\n"},
	}
}

// runFreshSteps calls debuginitfile (call returns its stdout) before and
// after each change.
func runFreshSteps(t *testing.T, f *freshFiles, call func() string) {
	t.Helper()
	require.Equal(t, "alpha\n", call())
	require.Equal(t, "alpha\n", call())
	for _, st := range freshSteps(t, f) {
		st.change()
		require.Equal(t, st.want, call(), "right after: %s", st.name)
		require.Equal(t, st.want, call(), "again: %s", st.name)
	}
}

func TestFreshPipe(t *testing.T) {
	f := newFreshFiles(t)
	cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "pipe")
	cmd.Env = append(os.Environ(), testInitFileEnv+"="+f.path, "CMDSRV_LOG_LEVEL=info")
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	c, err := client.StartCommand(cmd)
	require.NoError(t, err)
	defer c.Close()
	runFreshSteps(t, f, func() string {
		code, out, errs := testutil.Run(t, c, "debuginitfile")
		require.Equal(t, 0, code, errs)
		return out
	})
	require.NotContains(t, stderr.String(), "cannot watch", "the pipe server watches its file")

	// A change seen by the watcher is rebuilt before any call.
	require.NoError(t, os.WriteFile(f.path, []byte("background\n"), 0o644))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "rebuilding the handler in the background") {
		require.True(t, time.Now().Before(deadline), "no background rebuild; log:\n%s", stderr)
		time.Sleep(10 * time.Millisecond)
	}
	code, out, _ := testutil.Run(t, c, "debuginitfile")
	require.Equal(t, 0, code)
	require.Equal(t, "background\n", out)
}

// TestFreshUnixWorker: a unix worker warmed before the change finds it by
// its per-call check, rebuilds, and tells the master.
func TestFreshUnixWorker(t *testing.T) {
	f := newFreshFiles(t)
	t.Setenv(testInitFileEnv, f.path)
	t.Setenv("CMDSRV_LOG_LEVEL", "info")
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	runFreshSteps(t, f, func() string {
		c, err := client.Dial(context.Background(), s.addr)
		require.NoError(t, err)
		defer c.Close()
		code, out, errs := testutil.Run(t, c, "debuginitfile")
		require.Equal(t, 0, code, errs)
		return out
	})
	// Found by the worker's own check, or by the master's watch when
	// the call came later than the debounce.
	log := s.log.String()
	require.True(t, strings.Contains(log, "worker found its warm state stale") ||
		strings.Contains(log, "warming a new generation"), "log:\n%s", log)
}

// TestFreshUnixBackground: the master watches the files its workers
// declared and, on a change, warms a new generation in the background;
// the next call runs on a worker built after the change (no worker
// rebuilds in place), and the status says what changed.
func TestFreshUnixBackground(t *testing.T) {
	f := newFreshFiles(t)
	t.Setenv(testInitFileEnv, f.path)
	t.Setenv("CMDSRV_LOG_LEVEL", "info")
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	call := func() string {
		c, err := client.Dial(context.Background(), s.addr)
		require.NoError(t, err)
		defer c.Close()
		code, out, errs := testutil.Run(t, c, "debuginitfile")
		require.Equal(t, 0, code, errs)
		return out
	}
	status := func() *unixfork.Status {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := unixfork.QueryStatus(ctx, s.addr)
		require.NoError(t, err)
		return st
	}
	require.Equal(t, "alpha\n", call())
	st := status()
	require.Equal(t, 1, st.DepsTotal, "the worker reported its file")
	require.Equal(t, f.path, st.Deps[0].Path)
	require.True(t, st.Deps[0].Watched)
	require.True(t, st.Watching)
	require.Zero(t, st.Refreshes)

	for i, content := range []string{"beta\n", "gamma\n"} {
		require.NoError(t, os.WriteFile(f.path+".new", []byte(content), 0o644))
		require.NoError(t, os.Rename(f.path+".new", f.path))
		deadline := time.Now().Add(20 * time.Second)
		for {
			st = status()
			if st.Refreshes == int64(i+1) && st.Idle > 0 && st.Starting == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "no new generation ready: %+v\nlog:\n%s", st, s.log)
			time.Sleep(20 * time.Millisecond)
		}
		require.Equal(t, "file "+f.path, st.RefreshCause)
		require.NotEmpty(t, st.LastRefresh)
		require.Equal(t, content, call())
	}
	require.NotContains(t, s.log.String(), "worker found its warm state stale",
		"every call after a change ran on a new generation")
	var b strings.Builder
	require.NoError(t, status().Format(&b))
	require.Contains(t, b.String(), "generation: 2 (2 refreshes, last ")
	require.Contains(t, b.String(), "  file "+f.path+" (watched)\n")
}

// TestFreshClients: through the own client mode, cmdsrv-chg and
// Mercurial's chg, whose chgunix workers check their state on each call.
func TestFreshClients(t *testing.T) {
	forClients(t, func(t *testing.T, kind string) {
		f := newFreshFiles(t)
		e := newClientEnv(t, kind, testutil.Binary(t))
		e.env = append(e.env, testInitFileEnv+"="+f.path)
		runFreshSteps(t, f, func() string {
			code, out, errs := e.served("debuginitfile")
			require.Equal(t, 0, code, errs)
			return out
		})
	})
	t.Run("hg-chg", func(t *testing.T) {
		chg := testutil.NeedExternal(t, "chg")
		f := newFreshFiles(t)
		dir := testutil.ShortDir(t)
		defer killServers(t, dir)
		env := append(baseEnv(t), "CHGHG="+testutil.Binary(t), "CHGSOCKNAME="+filepath.Join(dir, "s"), testInitFileEnv+"="+f.path)
		runFreshSteps(t, f, func() string {
			cmd := exec.Command(chg, "debuginitfile")
			cmd.Env = env
			code, out, errs := runCmd(t, cmd)
			require.Equal(t, 0, code, errs)
			return out
		})
		require.Len(t, serverPids(dir), 1, "one server served every call")
	})
}

// TestFreshHglib drives a pipe server through python-hglib while the file
// changes under it.
func TestFreshHglib(t *testing.T) {
	if _, err := os.Stat(hglibPython); err != nil {
		testutil.Missing(t, "%s not found: %v", hglibPython, err)
	}
	if out, err := exec.Command(hglibPython, "-c", "import hglib").CombinedOutput(); err != nil {
		testutil.Missing(t, "python-hglib not importable by %s: %v\n%s", hglibPython, err, out)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "hglib_fresh.py"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(hglibPython, script, testutil.Binary(t), t.TempDir(), path)
	cmd.Env = append(os.Environ(), testInitFileEnv+"="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasSuffix(string(out), "ALL OK\n"), "%s", out)
}

// TestConstructorExit: a constructor that exits on a bad configuration
// file (os.Exit after a message, as real CLIs do) ends each call with the
// plain run's status and message, through the unix service's Go client,
// the own client mode, cmdsrv-chg and chg; once the file is fixed, the
// calls are served warm again. The workers started after one died in its
// constructor build in their client's command.
func TestConstructorExit(t *testing.T) {
	plain := func(t *testing.T, path string) (int, string) {
		cmd := exec.Command(testutil.Binary(t), "debuginitfile")
		cmd.Env = append(baseEnv(t), testInitFileEnv+"="+path, "CMDSRV_CLIENT=off")
		code, _, errs := runCmd(t, cmd)
		return code, errs
	}
	steps := func(t *testing.T, path string, call func() (int, string, string)) {
		require.NoError(t, os.WriteFile(path, []byte("good\n"), 0o644))
		code, out, errs := call()
		require.Equal(t, 0, code, errs)
		require.Equal(t, "good\n", out)
		for i := 0; i < 2; i++ {
			require.NoError(t, os.WriteFile(path, []byte("exit 3 no such colour: mauve\n"), 0o644))
			wantCode, wantErr := plain(t, path)
			require.Equal(t, 3, wantCode)
			require.Equal(t, "cmdsrv: bad config "+path+": no such colour: mauve\n", wantErr)
			for j := 0; j < 2; j++ {
				code, out, errs = call()
				require.Equal(t, wantCode, code, errs)
				require.Equal(t, wantErr, errs)
				require.Empty(t, out)
			}
			require.NoError(t, os.WriteFile(path, []byte("fixed\n"), 0o644))
			code, out, errs = call()
			require.Equal(t, 0, code, errs)
			require.Equal(t, "fixed\n", out)
		}
	}
	t.Run("unix", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "conf")
		require.NoError(t, os.WriteFile(path, []byte("good\n"), 0o644))
		t.Setenv(testInitFileEnv, path)
		s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
		steps(t, path, func() (int, string, string) {
			c, err := client.Dial(context.Background(), s.addr)
			require.NoError(t, err)
			defer c.Close()
			return testutil.Run(t, c, "debuginitfile")
		})
	})
	forClients(t, func(t *testing.T, kind string) {
		path := filepath.Join(t.TempDir(), "conf")
		e := newClientEnv(t, kind, testutil.Binary(t))
		e.env = append(e.env, testInitFileEnv+"="+path)
		steps(t, path, func() (int, string, string) { return e.served("debuginitfile") })
	})
	t.Run("hg-chg", func(t *testing.T) {
		chg := testutil.NeedExternal(t, "chg")
		path := filepath.Join(t.TempDir(), "conf")
		dir := testutil.ShortDir(t)
		defer killServers(t, dir)
		env := append(baseEnv(t), "CHGHG="+testutil.Binary(t), "CHGSOCKNAME="+filepath.Join(dir, "s"), testInitFileEnv+"="+path)
		steps(t, path, func() (int, string, string) {
			cmd := exec.Command(chg, "debuginitfile")
			cmd.Env = env
			return runCmd(t, cmd)
		})
	})
}
