package unixfork

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/internal/session"
)

// trackedConn is a client connection that remembers when the client last
// sent a byte or was last written to, so that the worker can tell an idle
// client (nothing sent, no command running) from a working one, and that
// calls beforeFirstWrite just before the first write to it (the hello):
// the worker then tells the master it took a client. Before, not after:
// a client that has its hello is one the master knows is taken, so that
// a worker stopped right after it (SIGSTOP) is not killed as an idle
// worker that stopped answering, with the client's session.
type trackedConn struct {
	*net.UnixConn
	sess             *session.Session
	beforeFirstWrite func()
	// page, if set, is the client page every frame is written from, one
	// write(2) at a time on raw, for the master to finish a frame the
	// worker's death cut (handoff.go).
	page *clientPage
	raw  syscall.RawConn

	mu       sync.Mutex // guards the fields below
	last     time.Time  // last byte read or written
	reported time.Time  // last when the master was told "idle"
	evicted  bool
	wrote    bool // anything was written
	// announced: beforeFirstWrite was called.
	announced bool
	// writing counts writes under way: a result the client does not
	// read, blocked after its command ended, is not idleness.
	writing int
}

// Read stamps the activity. Once evicted, whatever arrives is dropped and
// the session reads a clean end of input: no request starts after the
// client was told its connection is closed.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.UnixConn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evicted {
		return 0, io.EOF
	}
	if n > 0 {
		c.last = time.Now()
	}
	return n, err
}

// Write writes one frame: the session's frame writer makes one Write per
// frame (trackedConn has no SyscallConn, so it never uses writev on the
// descriptor directly).
func (c *trackedConn) Write(p []byte) (int, error) {
	c.startWrite()
	defer c.endWrite()
	if c.page != nil {
		return c.page.write(c.raw, p)
	}
	return c.UnixConn.Write(p)
}

func (c *trackedConn) startWrite() {
	c.mu.Lock()
	c.writing++
	first := !c.announced
	c.announced = true
	c.mu.Unlock()
	if first && c.beforeFirstWrite != nil {
		c.beforeFirstWrite()
	}
}

func (c *trackedConn) endWrite() {
	c.mu.Lock()
	c.writing--
	c.last = time.Now()
	c.wrote = true
	c.mu.Unlock()
}

// wasAnnounced reports whether beforeFirstWrite was called.
func (c *trackedConn) wasAnnounced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.announced
}

// wroteAny reports whether anything was written to the client.
func (c *trackedConn) wroteAny() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wrote
}

// SyscallConn hides the connection's: every frame goes through Write
// (above), so that the client page sees it.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	return nil, errNoRawConn
}

var errNoRawConn = errors.New("a worker's client connection is written through its Write")

// idleForLocked is how long the client has been idle; 0 while a command
// runs or something is being written to it. c.mu must be held.
func (c *trackedConn) idleForLocked() time.Duration {
	if c.sess == nil || c.writing > 0 || c.sess.Busy() {
		return 0
	}
	return time.Since(c.last)
}

// evict closes the connection if the client is still idle after limit:
// it gets the reason on 'e', then end of input ends its session cleanly.
// A running command is never cut.
func (c *trackedConn) evict(limit time.Duration, log hclog.Logger) bool {
	c.mu.Lock()
	idle := c.idleForLocked()
	if c.evicted || limit <= 0 || idle < limit {
		c.mu.Unlock()
		return false
	}
	c.evicted = true
	c.mu.Unlock()
	msg := fmt.Sprintf("abort: closing this connection: it sent nothing for %s while other clients waited for a worker (cmdserver.client-idle-timeout=%s)\n",
		idle.Round(time.Millisecond), limit)
	log.Warn("closed an idle client connection: other clients waited for a worker", "idle", idle.Round(time.Millisecond), "limit", limit)
	// Not on the caller's goroutine, the worker's control loop: a write
	// to a client that stopped reading (or the frame writer held by one)
	// would block it, and with it the master's later messages. The write
	// deadline bounds that write and any stuck one it waits behind; the
	// end of input then ends the session.
	go func() {
		_ = c.SetWriteDeadline(time.Now().Add(evictWriteWait))
		if fw := c.sess.Frames(); fw != nil {
			_ = fw.WriteFrame(session.ChannelError, []byte(msg))
		}
		_ = c.CloseRead()
	}()
	return true
}

// evictWriteWait bounds the write of the reason to an evicted client.
const evictWriteWait = 5 * time.Second

// watchIdle tells the master when the client has been idle for
// rw.idleAfter, once per idle stretch, until stop is closed. The master
// decides whom to evict: it alone knows whether clients wait.
func (rw *runningWorker) watchIdle(c *trackedConn, stop <-chan struct{}) {
	if rw.idleAfter <= 0 {
		return
	}
	t := time.NewTimer(rw.idleAfter)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		idle := c.idleForLocked()
		report := idle >= rw.idleAfter && c.reported != c.last && !c.evicted
		if report {
			c.reported = c.last
		}
		c.mu.Unlock()
		if report {
			if err := sendMsg(rw.ctl, controlMsg{Type: msgIdle, IdleMS: idle.Milliseconds()}); err != nil {
				rw.log.Debug("reporting idle client", "error", err)
			}
		}
		next := rw.idleAfter
		if idle > 0 && idle < rw.idleAfter {
			next = rw.idleAfter - idle
		}
		t.Reset(next)
	}
}

// statusWait bounds how long a status request waits for the master.
const statusWait = 10 * time.Second

// status answers the StatusCommand request: the master's view of the
// pool, as JSON on 'r'.
func (rw *runningWorker) status(ctx context.Context, s *session.Session) error {
	for len(rw.statusReplies) > 0 {
		<-rw.statusReplies // a late answer to an earlier request
	}
	if err := sendMsg(rw.ctl, controlMsg{Type: msgStatus}); err != nil {
		return fmt.Errorf("asking the master: %w", err)
	}
	t := time.NewTimer(statusWait)
	defer t.Stop()
	var m controlMsg
	select {
	case m = <-rw.statusReplies:
	case <-t.C:
		return errors.New("the master did not answer")
	case <-ctx.Done():
		return ctx.Err()
	}
	if m.Pool == nil {
		return errors.New("the master sent an empty status")
	}
	b, err := json.Marshal(m.Pool)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	return s.Frames().WriteFrame(session.ChannelResult, b)
}
