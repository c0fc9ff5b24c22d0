//go:build !linux && !freebsd

package proctitle

import "errors"

// Supported reports whether Set can change what ps shows: not here.
const Supported = false

// Get returns "": no title is kept here.
func Get() string { return "" }

// Set fails: this system offers no way to set the title without cgo.
func Set(string) error {
	return errors.New("setting the process title is not supported on this system")
}
