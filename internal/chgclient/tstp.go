//go:build unix

package chgclient

import (
	"sync"
	"syscall"

	"github.com/cmdsrv/cmdsrv/internal/sigaction"
)

// tstpAction is SIGTSTP's disposition before the client caught it.
type tstpAction struct {
	act   sigaction.Action
	valid bool
}

// saveTSTP reads SIGTSTP's disposition before signal.Notify, when it is
// the default action or ignored: the ones signal.Stop does not give back
// (the runtime keeps its handler, which then drops the signal). A handler
// of the runtime's already (the caller catches SIGTSTP itself) is not
// saved: it is the caller's to keep.
func saveTSTP() tstpAction {
	old, err := sigaction.Get(syscall.SIGTSTP)
	return tstpAction{act: old, valid: err == nil && (old.IsDefault() || old.IsIgnored())}
}

// restore puts the saved disposition back, after signal.Stop, so that the
// caller's process can be stopped with Ctrl-Z again.
func (a tstpAction) restore() {
	if a.valid {
		_ = sigaction.Set(syscall.SIGTSTP, a.act)
	}
}

// runtimeTSTP is the runtime's SIGTSTP handler as first seen installed by
// signal.Notify. After restore has put the default action back behind the
// runtime's back, a later signal.Notify in the same process (a library
// caller running a second command) does not install it again: the
// runtime believes it still is.
var runtimeTSTP struct {
	sync.Mutex
	act sigaction.Action
	ok  bool
}

// armTSTP runs after signal.Notify(SIGTSTP): it remembers the runtime's
// handler, or puts it back where a restore took it away, so that Ctrl-Z
// reaches the client's forwarding instead of stopping the client alone.
func armTSTP() {
	cur, err := sigaction.Get(syscall.SIGTSTP)
	if err != nil {
		return
	}
	runtimeTSTP.Lock()
	defer runtimeTSTP.Unlock()
	if !cur.IsDefault() && !cur.IsIgnored() {
		runtimeTSTP.act, runtimeTSTP.ok = cur, true
		return
	}
	if runtimeTSTP.ok {
		_ = sigaction.Set(syscall.SIGTSTP, runtimeTSTP.act)
	}
}

// canRestoreTSTP: SIGTSTP's disposition can be given back after it was
// caught; where it cannot, a client that must give the signals back does
// not catch SIGTSTP.
const canRestoreTSTP = sigaction.Supported
