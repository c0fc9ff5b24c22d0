//go:build !(darwin || linux || openbsd)

package session

import "io"

// vectorWriterFor: without writev, frames are copied into one buffer and
// written with one Write.
func vectorWriterFor(io.Writer) func(hdr, payload []byte) error { return nil }
