// Package testutil holds helpers for cmdsrv's tests: building the cmdsrv
// binary once per test process, starting servers, and the interop switch
// that turns a missing external client into a failure in CI.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cmdsrv/cmdsrv/internal/procstat"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// RequireInteropEnv, when set to 1 (as .ci/run does), makes tests that
// need an external client (hg, chg, python-hglib, systemd-socket-activate)
// fail instead of skipping when it is missing.
const RequireInteropEnv = "CMDSRV_REQUIRE_INTEROP"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds ./cmd/cmdsrv once per test process and returns its path.
// Set CMDSRV_TEST_RACE=1 to build it with the race detector.
func Binary(t testing.TB) string {
	t.Helper()
	return BuildCommand(t, "./cmd/cmdsrv", "cmdsrv")
}

var builds sync.Map // pkg -> *buildResult

type buildResult struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// BuildCommand builds the main package pkg (relative to the module root)
// once per test process, as a binary named name, and returns its path.
//
// With CMDSRV_TEST_BIN_DIR set, the binary is not built but taken from that
// directory (name, plus .exe on Windows): test binaries cross-compiled for
// Windows and run under Wine have no Go toolchain to build with.
func BuildCommand(t testing.TB, pkg, name string) string {
	t.Helper()
	if dir := os.Getenv("CMDSRV_TEST_BIN_DIR"); dir != "" {
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("prebuilt %s (CMDSRV_TEST_BIN_DIR): %v", pkg, err)
		}
		return path
	}
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "cmdsrv-test-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		args := []string{"build", "-o", b.path}
		if os.Getenv("CMDSRV_TEST_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = ModuleRoot(t)
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.path
}

// StartPipe starts `cmdsrv serve --cmdserver pipe ARGS...` and returns a
// client; the server is closed at the end of the test.
func StartPipe(t testing.TB, args ...string) *client.Client {
	t.Helper()
	c, err := client.StartPipe(context.Background(), Binary(t), args...)
	if err != nil {
		t.Fatalf("starting pipe server: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Run runs one command on c and returns its exit code, stdout and stderr.
func Run(t testing.TB, c *client.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := c.RunCommand(ctx, args, &client.RunOptions{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("runcommand %q: %v (stderr %q)", args, err, errb.String())
	}
	return code, out.String(), errb.String()
}

// NeedExternal skips the test when the external program is missing, or
// fails it when CMDSRV_REQUIRE_INTEROP=1. It returns the program's path.
func NeedExternal(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if os.Getenv(RequireInteropEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but not found: %v", program, RequireInteropEnv, err)
	}
	t.Skipf("%s not installed: %v", program, err)
	return ""
}

// Missing reports a missing external dependency other than a program (a
// Python module, say): skip locally, fail under CMDSRV_REQUIRE_INTEROP=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireInteropEnv) == "1" {
		t.Fatalf("required for interop ("+RequireInteropEnv+"=1): "+format, args...)
	}
	t.Skipf(format, args...)
}

// ShortDir returns a fresh directory with a short path, for unix socket
// addresses (sun_path holds 108 bytes; t.TempDir paths can exceed it).
func ShortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// SyncBuffer is a bytes.Buffer safe for one writer goroutine (exec's
// copier, a logger) and a reading test at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Processes returns the pids of the live processes whose command line
// (argv) satisfies match; zombies are left out, and so are processes whose
// parent matches too: a child between clone and execve (a server starting
// a pool worker) still shows its parent's command line.
func Processes(match func(pid int, argv []string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	parents := map[int]int{}
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		state, ppid := ProcStat(pid)
		if state == 'Z' {
			continue
		}
		if match(pid, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
			parents[pid] = ppid
		}
	}
	kept := pids[:0]
	for _, pid := range pids {
		if _, forked := parents[parents[pid]]; !forked {
			kept = append(kept, pid)
		}
	}
	return kept
}

// ProcStat returns the state letter (R, S, T, Z, ...) and the parent pid
// of pid from /proc/PID/stat; state is 0 when the process is gone.
func ProcStat(pid int) (state byte, ppid int) {
	st, err := procstat.Read(pid)
	if err != nil {
		return 0, 0
	}
	return st.State, st.PPID
}

// Alive reports whether pid runs: it exists and is not a zombie (a
// zombie waiting to be reaped has stopped serving).
func Alive(pid int) bool {
	state, _ := ProcStat(pid)
	return state != 0 && state != 'Z'
}

// ReadPIDFile reads a pid file and checks its form: the pid and a newline.
func ReadPIDFile(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(b), "\n"))
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("pid file %s holds %q, want a pid and a newline", path, b)
	}
	return pid
}

// FDTarget returns what descriptor fd of pid points at (/proc/PID/fd/FD).
func FDTarget(t testing.TB, pid, fd int) string {
	t.Helper()
	s, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
