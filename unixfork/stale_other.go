//go:build !linux

package unixfork

import "net"

// listenerCreatorAlive: the listening socket's creator is not known here;
// serverAnswers waits for a hello instead.
func listenerCreatorAlive(c *net.UnixConn) (alive, known bool) { return false, false }
