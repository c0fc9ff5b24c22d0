//go:build unix

package chgclient

import (
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

// canRestoreTSTP: SIGTSTP's disposition can be given back after it was
// caught; where it cannot, a client that must give the signals back does
// not catch SIGTSTP.
const canRestoreTSTP = sigaction.Supported
