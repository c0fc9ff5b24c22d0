//go:build unix

package daemon

// Defaults of the log keys, as in Mercurial.
const (
	DefaultMaxLogFiles = 7
	DefaultMaxLogSize  = 1 << 20
)
