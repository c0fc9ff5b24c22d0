package unixfork

import (
	"errors"
	"net"
	"time"
)

// staleHelloWait bounds the wait for a server's first bytes (its hello)
// where the process that created the listening socket cannot be looked
// up: a socket that accepts but says nothing for this long is stale.
const staleHelloWait = 5 * time.Second

// serverAnswers reports whether a live server holds the socket at path.
// A socket nobody accepts on is stale. One that accepts is live while the
// process that created it (the master, from SO_PEERCRED where the
// platform gives it) runs: the kernel also accepts on a listening socket
// that only orphaned workers still hold (stopped ones, say), and no hello
// ever comes there. Where the creator cannot be known, a live server is
// one that sends something within staleHelloWait.
func serverAnswers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return true
	}
	if alive, known := listenerCreatorAlive(uc); known {
		return alive
	}
	_ = uc.SetReadDeadline(time.Now().Add(staleHelloWait))
	var b [1]byte
	_, err = uc.Read(b[:])
	var ne net.Error
	// A byte, end of input or another error: something is serving there.
	return !(errors.As(err, &ne) && ne.Timeout())
}
