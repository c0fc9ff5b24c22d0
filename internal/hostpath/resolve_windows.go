package hostpath

import "os"

// Resolve resolves p against the absolute directory base with Windows'
// rules (see WindowsJoin). A drive's current directory is the process's
// own, which Windows keeps in the hidden environment variable "=C:" (and
// so on): what the program that started the server had.
func Resolve(base, p string) string {
	return WindowsJoin(base, p, func(drive string) string { return os.Getenv("=" + drive) })
}
