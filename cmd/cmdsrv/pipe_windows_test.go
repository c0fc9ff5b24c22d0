package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestWindowsRootedPaths: the pipe service resolves rooted and
// drive-relative paths as Windows does: `/` and `\x` on the session's
// drive, `C:x` in the session's directory when it is on drive C.
func TestWindowsRootedPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f.txt"), []byte("in f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := filepath.VolumeName(dir)
	rooted := dir[len(vol):] // `\users\...`: dir, without its drive
	c := testutil.StartPipe(t, "-R", dir)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--cwd", "/", "pwd"}, vol + `\` + "\n"},
		{[]string{"--cwd", `\`, "pwd"}, vol + `\` + "\n"},
		{[]string{"--cwd", rooted, "pwd"}, dir + "\n"},
		{[]string{"--cwd", filepath.ToSlash(rooted) + "/sub", "pwd"}, filepath.Join(dir, "sub") + "\n"},
		{[]string{"--cwd", vol + "sub", "pwd"}, filepath.Join(dir, "sub") + "\n"},
		{[]string{"-R", `\`, "--cwd", rooted, "pwd"}, dir + "\n"},
		{[]string{"cat", rooted + `\sub\f.txt`}, "in f\n"},
		{[]string{"--cwd", "/", "cat", rooted + `\sub\f.txt`}, "in f\n"},
		{[]string{"cat", vol + `sub\f.txt`}, "in f\n"},
	} {
		code, out, errs := testutil.Run(t, c, tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("%q: %d %q (stderr %q), want 0 %q", tt.args, code, out, errs, tt.want)
		}
	}
}

// TestWindowsSystem: system runs its command with cmd.exe.
func TestWindowsSystem(t *testing.T) {
	c := testutil.StartPipe(t)
	code, out, errs := testutil.Run(t, c, "system", "echo hi")
	if code != 0 || out != "hi\r\n" {
		t.Errorf("system 'echo hi': %d %q (stderr %q), want 0 \"hi\\r\\n\"", code, out, errs)
	}
	code, out, errs = testutil.Run(t, c, "system", `echo "quoted & kept"& echo oops>&2& exit 7`)
	if code != 7 || out != "\"quoted & kept\"\r\n" || errs != "oops\r\n" {
		t.Errorf("system with quotes and an exit code: %d %q %q", code, out, errs)
	}
}
