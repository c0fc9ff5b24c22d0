//go:build !linux

package selfexe

// Path returns the path to execute this program again: os.Executable.
func Path() (string, error) { return executable() }
