// Package proctitle reads and sets the process title that ps shows, where
// the system lets a Go program do it without cgo: the command name (comm)
// on Linux, the argument string (ps's command column) on FreeBSD. macOS
// and Windows have no such call: ps on macOS reads the argument vector
// out of the process's memory, which Go does not expose.
package proctitle
