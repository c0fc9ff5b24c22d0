//go:build !unix

package cmdsrv

// stdioPresent reports whether the standard streams are usable; the client
// mode runs every command in-process here (Windows) anyway (chgclient.Run
// hands nothing over there), so there is nothing to check.
func stdioPresent() bool { return true }
