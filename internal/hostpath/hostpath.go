// Package hostpath resolves the paths a command is given (--cwd, -R, a
// file argument) against its working directory the way the host system
// does. On Unix that is filepath.IsAbs and filepath.Join. On Windows a path
// may be rooted without being absolute: `\x` and `/x` name x at the root of
// the current drive (the working directory's), and `C:x` names x in drive
// C's current directory; filepath.IsAbs is false for both, and joining them
// onto the working directory, as Unix code does, names another file.
//
// The Windows rules are written as pure functions over Windows path syntax
// (WindowsJoin, WindowsVolumeName, WindowsClean) so that they run and are
// tested on every system; Resolve picks the host's rules.
package hostpath

import "strings"

// WindowsJoin resolves p against the absolute directory base as Windows
// does, in Windows path syntax whatever the host:
//
//   - an absolute p (`C:\x`, `\\server\share\x`, `\\?\C:\x`) is returned
//     as it is;
//   - a rooted p (`\x`, `/x`) is x at the root of base's volume;
//   - a drive-relative p (`C:x`, `C:`) is x in base when base is on that
//     drive, else in driveDir(drive) ("C:", upper case), the drive's
//     current directory, or at the drive's root when driveDir is nil or
//     gives nothing of that drive (as Windows does for a drive the process
//     has not been on);
//   - any other p is relative to base.
//
// The result is cleaned (WindowsClean) except for an absolute p; an empty p
// gives base cleaned.
func WindowsJoin(base, p string, driveDir func(drive string) string) string {
	vol := WindowsVolumeName(p)
	rest := p[len(vol):]
	switch {
	case WindowsIsAbs(p):
		return p
	case vol == "" && rest != "" && isSep(rest[0]):
		return WindowsClean(WindowsVolumeName(base) + rest)
	case vol != "": // a drive letter and a relative path
		drive := strings.ToUpper(vol)
		if strings.EqualFold(WindowsVolumeName(base), drive) {
			return WindowsClean(base + `\` + rest)
		}
		dir := ""
		if driveDir != nil {
			dir = driveDir(drive)
		}
		if !strings.EqualFold(WindowsVolumeName(dir), drive) || !WindowsIsAbs(dir) {
			dir = vol + `\`
		}
		return WindowsClean(dir + `\` + rest)
	}
	return WindowsClean(base + `\` + p)
}

// WindowsIsAbs reports whether p is absolute in Windows syntax: a drive
// letter followed by a separator, or a UNC or device path.
func WindowsIsAbs(p string) bool {
	vol := WindowsVolumeName(p)
	switch {
	case vol == "":
		return false
	case isDrive(vol):
		return len(p) > 2 && isSep(p[2])
	}
	return true
}

// WindowsVolumeName returns the volume at the start of p in Windows
// syntax: `C:` for a drive letter, `\\server\share` for a UNC path,
// `\\?\C:` or `\\.\PIPE` for a device path (`\\?\UNC\server\share` for a
// UNC one), "" for none. Either separator may be used; the volume is
// returned as p spells it.
func WindowsVolumeName(p string) string {
	if isDrive(p) {
		return p[:2]
	}
	if len(p) < 2 || !isSep(p[0]) || !isSep(p[1]) {
		return ""
	}
	// \\?\ and \\.\ lead a device path: the volume is the device's name
	// (two more elements after UNC\).
	n := 2 // elements after the leading separators
	start := 2
	if len(p) >= 4 && (p[2] == '?' || p[2] == '.') && isSep(p[3]) {
		start, n = 4, 1
		if len(p) >= 8 && strings.EqualFold(p[4:7], "UNC") && isSep(p[7]) {
			start, n = 8, 2
		}
	}
	i := start
	for ; n > 0; n-- {
		for i < len(p) && !isSep(p[i]) {
			i++
		}
		if n > 1 {
			if i == len(p) {
				break
			}
			i++
		}
	}
	return p[:i]
}

// WindowsClean returns the shortest path equivalent to p in Windows
// syntax, with backslashes: `.` elements and doubled separators go, `..`
// removes the element before it (and stops at the root), the volume stays
// as it is but for its separators.
func WindowsClean(p string) string {
	vol := WindowsVolumeName(p)
	rest := p[len(vol):]
	vol = strings.ReplaceAll(vol, "/", `\`)
	rooted := rest != "" && isSep(rest[0])
	var elems []string
	for _, e := range strings.FieldsFunc(rest, func(r rune) bool { return r == '\\' || r == '/' }) {
		switch {
		case e == ".":
		case e == ".." && len(elems) > 0 && elems[len(elems)-1] != "..":
			elems = elems[:len(elems)-1]
		case e == ".." && rooted:
			// Above the root is the root.
		default:
			elems = append(elems, e)
		}
	}
	out := strings.Join(elems, `\`)
	if rooted {
		out = `\` + out
	}
	if out == "" && (vol == "" || isDrive(vol)) {
		out = "." // as filepath.Clean: "." and "C:." (drive C's directory)
	}
	return vol + out
}

func isSep(c byte) bool { return c == '\\' || c == '/' }

// isDrive reports whether p starts with a drive letter and a colon.
func isDrive(p string) bool {
	if len(p) < 2 || p[1] != ':' {
		return false
	}
	c := p[0] | 0x20
	return 'a' <= c && c <= 'z'
}
