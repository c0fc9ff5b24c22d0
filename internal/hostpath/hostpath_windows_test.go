package hostpath

import (
	"path/filepath"
	"testing"
)

// TestWindowsSyntaxMatchesFilepath: on Windows, the pure functions agree
// with path/filepath wherever filepath has an answer of its own (it has
// none for a rooted or drive-relative path, which it joins as relative).
// Left out: a volume spelt with slashes (filepath.VolumeName turns them
// into backslashes) and `\\?\UNC\host\share`, which filepath takes for a
// volume of its own, `\\?\UNC`.
func TestWindowsSyntaxMatchesFilepath(t *testing.T) {
	paths := []string{
		`C:\a\.\b\\c\..`, `C:/a/b/`, `C:\..`, `\a\..\..`, `a\..\..\b`, `C:`, `c:x\..\y`,
		`\\host\share\x\..\y`, `\\?\C:\x`, `\\.\PIPE\p`,
		`x`, `..`, `\`, `C:\`,
	}
	for _, p := range paths {
		if got, want := WindowsVolumeName(p), filepath.VolumeName(p); got != want {
			t.Errorf("WindowsVolumeName(%q) = %q, filepath.VolumeName %q", p, got, want)
		}
		if got, want := WindowsIsAbs(p), filepath.IsAbs(p); got != want {
			t.Errorf("WindowsIsAbs(%q) = %v, filepath.IsAbs %v", p, got, want)
		}
		if got, want := WindowsClean(p), filepath.Clean(p); got != want {
			t.Errorf("WindowsClean(%q) = %q, filepath.Clean %q", p, got, want)
		}
		// Relative paths join as filepath.Join does.
		if !filepath.IsAbs(p) && filepath.VolumeName(p) == "" && (p == "" || p[0] != '\\' && p[0] != '/') {
			if got, want := WindowsJoin(`C:\base\dir`, p, nil), filepath.Join(`C:\base\dir`, p); got != want {
				t.Errorf("WindowsJoin(`C:\\base\\dir`, %q) = %q, filepath.Join %q", p, got, want)
			}
		}
	}
	// The drive's root, seen as Windows sees it, for the current directory.
	if got, want := Resolve(`C:\base`, `\x`), `C:\x`; got != want {
		t.Errorf("Resolve(`C:\\base`, `\\x`) = %q, want %q", got, want)
	}
}
