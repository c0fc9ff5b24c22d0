//go:build !linux

package chg

import "errors"

// canSetProcName is false: setprocname is not advertised here.
const canSetProcName = false

func setProcName(string) error { return errors.New("setprocname is not supported on this system") }
