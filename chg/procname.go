package chg

import "github.com/cmdsrv/cmdsrv/internal/proctitle"

// canSetProcName reports whether setprocname is advertised: only where
// the title ps shows can be set (Linux, FreeBSD; see internal/proctitle).
const canSetProcName = proctitle.Supported

// setProcName sets the process name shown by ps and top.
func setProcName(name string) error { return proctitle.Set(name) }
