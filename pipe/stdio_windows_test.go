package pipe

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// helperEnv makes the test binary act as TestStdioHelper says instead of
// running the tests.
const helperEnv = "CMDSRV_PIPE_TEST_HELPER"

// stillActive is the exit code GetExitCodeProcess gives a running process
// (STILL_ACTIVE, which x/sys/windows does not name).
const stillActive = 259

// TestProtectedStdoutNotInherited: after ProtectStdio, a process that the
// server starts with bInheritHandles=TRUE (as native code and cmd.exe's
// start do) does not hold the client's stdout pipe, so the client sees the
// end of its output as soon as the server exits, while that process still
// runs.
func TestProtectedStdoutNotInherited(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestStdioHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=server")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a pipe: cmd.Wait would wait for the child, which
	// inherits the server's stderr, to close a pipe.
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out string
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(stdout)
		got <- result{string(b), err}
	}()
	var r result
	select {
	case r = <-got:
	case <-time.After(20 * time.Second):
		// The child sleeps longer than this; without the fix its inherited
		// handle keeps the pipe open until it exits.
		_ = cmd.Process.Kill()
		t.Fatal("no end of output 20 s after starting a server that exits at once: a child holds the pipe")
	}
	if err := cmd.Wait(); err != nil || r.err != nil {
		b, _ := os.ReadFile(stderr.Name())
		t.Fatalf("server: %v, reading its output: %v; its stderr:\n%s", err, r.err, b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(r.out))
	if err != nil {
		t.Fatalf("server wrote %q, want the child's pid", r.out)
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		t.Fatalf("opening the child %d: %v", pid, err)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		t.Fatal(err)
	}
	if code != stillActive {
		t.Fatalf("the child exited (%d) before the output ended: the test proves nothing", code)
	}
	_ = windows.TerminateProcess(h, 1)
}

// TestStdioHelper is the server (and its child) of
// TestProtectedStdoutNotInherited; it does nothing unless helperEnv is set.
func TestStdioHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "server":
		_, out, err := ProtectStdio()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ProtectStdio:", err)
			os.Exit(2)
		}
		// A child started as native code does, inheriting every
		// inheritable handle; it sleeps until it is killed.
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Setenv(helperEnv, "sleep")
		line, err := windows.UTF16PtrFromString(`"` + self + `" -test.run=^TestStdioHelper$`)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var si windows.StartupInfo
		si.Cb = uint32(unsafe.Sizeof(si))
		var pi windows.ProcessInformation
		if err := windows.CreateProcess(nil, line, nil, nil, true, 0, nil, nil, &si, &pi); err != nil {
			fmt.Fprintln(os.Stderr, "CreateProcess:", err)
			os.Exit(2)
		}
		w := bufio.NewWriter(out)
		fmt.Fprintln(w, pi.ProcessId)
		w.Flush()
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute) // or until the test kills it
		os.Exit(0)
	}
}
