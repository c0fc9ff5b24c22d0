package chgclient

import "strings"

// HasCmdserver reports whether --cmdserver is among args (before a lone
// "--", after which words are nobody's options). A command line holding it
// starts a command server, which runs directly, never through a server;
// a plain argument so spelled in an application's own command line runs
// directly too, which changes nothing but its speed.
func HasCmdserver(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--cmdserver" || strings.HasPrefix(a, "--cmdserver=") {
			return true
		}
	}
	return false
}
