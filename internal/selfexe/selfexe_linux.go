package selfexe

import "os"

// procSelfExe names the running binary itself, even after the file it was
// started from was replaced or removed on disk.
const procSelfExe = "/proc/self/exe"

// Path returns the path to execute this program again: /proc/self/exe when
// /proc is mounted, else os.Executable.
func Path() (string, error) {
	if _, err := os.Stat(procSelfExe); err == nil {
		return procSelfExe, nil
	}
	return executable()
}
