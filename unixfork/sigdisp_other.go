//go:build unix && !(linux && (amd64 || arm64))

package unixfork

import "golang.org/x/sys/unix"

// kernelHandlerIsDefault cannot read the disposition here: a reused
// worker then trusts that commands left job-control signals alone.
func kernelHandlerIsDefault(unix.Signal) (isDefault, known bool) { return false, false }
