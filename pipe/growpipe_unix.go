//go:build unix && !linux

package pipe

// growPipe does nothing here: the BSDs and macOS grow a pipe's buffer by
// themselves as data waits in it, and have no F_SETPIPE_SZ.
func growPipe(int) {}
