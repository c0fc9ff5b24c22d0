package hostpath

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestWindowsJoin(t *testing.T) {
	// The process has been on drive D (its current directory there is
	// D:\work) but never on drive E.
	driveDir := func(drive string) string {
		if drive == "D:" {
			return `D:\work`
		}
		return ""
	}
	tests := []struct{ base, p, want string }{
		// Relative paths join the base.
		{`C:\srv\repo`, `sub`, `C:\srv\repo\sub`},
		{`C:\srv\repo`, `sub/deeper\f.txt`, `C:\srv\repo\sub\deeper\f.txt`},
		{`C:\srv\repo`, `..\other`, `C:\srv\other`},
		{`C:\srv\repo`, `.`, `C:\srv\repo`},
		{`C:\srv\repo`, ``, `C:\srv\repo`},
		{`C:\srv\repo`, `..\..\..\x`, `C:\x`},
		// Rooted paths are at the root of the base's drive.
		{`C:\srv\repo`, `\`, `C:\`},
		{`C:\srv\repo`, `/`, `C:\`},
		{`Z:\tmp\s`, `\tmp`, `Z:\tmp`},
		{`Z:\tmp\s`, `/tmp/f.txt`, `Z:\tmp\f.txt`},
		{`C:\srv\repo`, `\a\..\b`, `C:\b`},
		{`C:\srv\repo`, `\..\x`, `C:\x`},
		{`\\host\share\repo`, `\x`, `\\host\share\x`},
		{`\\host\share\repo`, `/`, `\\host\share\`},
		// Drive-relative paths: the base's drive is the base...
		{`C:\srv\repo`, `C:sub`, `C:\srv\repo\sub`},
		{`C:\srv\repo`, `c:sub`, `C:\srv\repo\sub`},
		{`C:\srv\repo`, `C:`, `C:\srv\repo`},
		{`C:\srv\repo`, `C:..`, `C:\srv`},
		// ...another drive's is its current directory, or its root.
		{`C:\srv\repo`, `D:x`, `D:\work\x`},
		{`C:\srv\repo`, `d:x`, `D:\work\x`},
		{`C:\srv\repo`, `D:`, `D:\work`},
		{`C:\srv\repo`, `E:x`, `E:\x`},
		{`C:\srv\repo`, `E:`, `E:\`},
		{`\\host\share\repo`, `C:x`, `C:\x`},
		// Absolute paths are kept as they are.
		{`C:\srv\repo`, `D:\x\..\y`, `D:\x\..\y`},
		{`C:\srv\repo`, `D:/x`, `D:/x`},
		{`C:\srv\repo`, `\\host\share\x`, `\\host\share\x`},
		{`C:\srv\repo`, `//host/share/x`, `//host/share/x`},
		{`C:\srv\repo`, `\\?\C:\x`, `\\?\C:\x`},
		{`C:\srv\repo`, `\\.\PIPE\p`, `\\.\PIPE\p`},
	}
	for _, tt := range tests {
		if got := WindowsJoin(tt.base, tt.p, driveDir); got != tt.want {
			t.Errorf("WindowsJoin(%q, %q) = %q, want %q", tt.base, tt.p, got, tt.want)
		}
	}
	// Without a lookup, another drive's paths are at its root.
	if got := WindowsJoin(`C:\srv`, `D:x`, nil); got != `D:\x` {
		t.Errorf("WindowsJoin(`C:\\srv`, `D:x`, nil) = %q, want `D:\\x`", got)
	}
	// A lookup's answer for another drive (or a relative one) is not taken.
	bad := func(string) string { return `C:\elsewhere` }
	if got := WindowsJoin(`C:\srv`, `D:x`, bad); got != `D:\x` {
		t.Errorf("WindowsJoin with a wrong drive directory = %q, want `D:\\x`", got)
	}
}

func TestWindowsIsAbs(t *testing.T) {
	for p, want := range map[string]bool{
		`C:\x`: true, `c:/x`: true, `C:\`: true, `\\host\share\x`: true, `\\host\share`: true,
		`\\?\C:\x`: true, `\\.\PIPE\p`: true, `//host/share`: true,
		`C:`: false, `C:x`: false, `\x`: false, `/x`: false, `x`: false, ``: false, `..\x`: false,
		`1:\x`: false,
	} {
		if got := WindowsIsAbs(p); got != want {
			t.Errorf("WindowsIsAbs(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestWindowsVolumeName(t *testing.T) {
	for p, want := range map[string]string{
		`C:\x`: `C:`, `c:x`: `c:`, `C:`: `C:`, `\\host\share\x\y`: `\\host\share`, `//host/share/x`: `//host/share`,
		`\\host`: `\\host`, `\\?\C:\x`: `\\?\C:`, `\\.\PIPE\p`: `\\.\PIPE`,
		`\\?\UNC\host\share\x`: `\\?\UNC\host\share`, `\x`: ``, `x`: ``, ``: ``, `:x`: ``,
	} {
		if got := WindowsVolumeName(p); got != want {
			t.Errorf("WindowsVolumeName(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestWindowsClean(t *testing.T) {
	for p, want := range map[string]string{
		`C:\a\.\b\\c\..`: `C:\a\b`, `C:/a/b/`: `C:\a\b`, `C:\..`: `C:\`, `\a\..\..`: `\`,
		`a\..\..\b`: `..\b`, ``: `.`, `C:`: `C:.`, `//host/share/x/../y`: `\\host\share\y`,
	} {
		if got := WindowsClean(p); got != want {
			t.Errorf("WindowsClean(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestResolve checks the host's rules: on Windows a rooted path is on the
// base's drive, on Unix a path with a leading slash is absolute.
func TestResolve(t *testing.T) {
	base := t.TempDir()
	if got, want := Resolve(base, "sub"), filepath.Join(base, "sub"); got != want {
		t.Errorf("Resolve(%q, sub) = %q, want %q", base, got, want)
	}
	root := string(filepath.Separator)
	want := root
	if runtime.GOOS == "windows" {
		want = filepath.VolumeName(base) + `\`
	}
	for _, p := range []string{"/", root} {
		if got := Resolve(base, p); got != want {
			t.Errorf("Resolve(%q, %q) = %q, want %q", base, p, got, want)
		}
	}
	// What the host's own filepath functions make of a path that needs no
	// Windows-only rule, Resolve makes too.
	abs, err := filepath.Abs("x")
	if err != nil {
		t.Fatal(err)
	}
	if got := Resolve(base, abs); got != abs {
		t.Errorf("Resolve(%q, %q) = %q, want it unchanged", base, abs, got)
	}
}
