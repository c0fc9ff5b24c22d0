package wire

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestRunShellUsesComspec: on Windows a shell command runs with cmd.exe,
// its quotes and operators reaching cmd.exe as written, in the shell's
// directory, with its exit status returned.
func TestRunShellUsesComspec(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	sh := Shell{Dir: dir, Env: os.Environ(), Stdout: &out, Stderr: &errb}
	code, err := RunShell(context.Background(), sh, `echo "a  b" & cd & echo oops>&2& exit 7`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\"a  b\" \r\n" + dir + "\r\n"; code != 7 || out.String() != want || errb.String() != "oops\r\n" {
		t.Fatalf("got %d, stdout %q, stderr %q; want 7, %q, \"oops\\r\\n\"", code, out.String(), errb.String(), want)
	}
}

// TestRunShellComspecFromEnv: the command's own COMSPEC (spelt in any
// case, as Windows allows) names the interpreter.
func TestRunShellComspecFromEnv(t *testing.T) {
	var out strings.Builder
	sh := Shell{Dir: t.TempDir(), Env: append(os.Environ(), `cOmSpEc=Z:\no\such\shell.exe`), Stdout: &out, Stderr: &out}
	if code, err := RunShell(context.Background(), sh, "echo hi"); err == nil || code != 127 {
		t.Fatalf("RunShell with a missing COMSPEC: %d, %v; want 127 and an error", code, err)
	}
}
