package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// hglibPython is the interpreter Debian's python3-hglib installs for; the
// first python3 on PATH may be another one.
const hglibPython = "/usr/bin/python3"

// TestHglibInterop drives the binary with the real python-hglib client:
// open, rawcommand, a prompt answered by its callback, cat fed by the
// input callback, CommandError with the right code, close returning 0.
func TestHglibInterop(t *testing.T) {
	if _, err := os.Stat(hglibPython); err != nil {
		testutil.Missing(t, "%s not found: %v", hglibPython, err)
	}
	if out, err := exec.Command(hglibPython, "-c", "import hglib").CombinedOutput(); err != nil {
		testutil.Missing(t, "python-hglib not importable by %s: %v\n%s", hglibPython, err, out)
	}
	bin := testutil.Binary(t)
	repo := t.TempDir()
	script, err := filepath.Abs(filepath.Join("testdata", "hglib_interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hglibPython, script, bin, repo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hglib interop failed: %v\n%s", err, out)
	}
	if !strings.HasSuffix(string(out), "ALL OK\n") {
		t.Fatalf("hglib interop did not finish:\n%s", out)
	}
	t.Logf("\n%s", out)
}
