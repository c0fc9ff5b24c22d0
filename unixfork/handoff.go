package unixfork

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/clientpage"
	"github.com/cmdsrv/cmdsrv/internal/fdpass"
)

// A worker that exits during a command (os.Exit, log.Fatal, a panic in a
// goroutine, a signal's default action) ends that command, not the
// client's connection: the master answers the client in its place
// (internal/clientpage says how).
//
// With its 'accepted' message the worker hands the master a duplicate of
// the client's connection and of its client page. With each command lent
// the process (procstate), it also hands over the read ends of the fd 1
// and fd 2 pipes. On 'done' the master closes what it holds. When the
// worker's control socket closes while the master still holds a client,
// the worker died with it: once the process is reaped, if a command was
// running, the master answers with the worker's status; otherwise it just
// closes the connection, as the worker's death did before.

// clientPage is the worker's mapping of its client page.
type clientPage struct {
	*clientpage.Page
	f *os.File
}

func newClientPage() (*clientPage, error) {
	pg, err := clientpage.New()
	if err != nil {
		return nil, err
	}
	return &clientPage{Page: pg, f: pg.File()}, nil
}

// reset starts a client: no command, no frame.
func (pg *clientPage) reset() { pg.Reset() }

// startCommand marks the client as owed a result (Session.OnCommand).
func (pg *clientPage) startCommand() { pg.StartCommand() }

// write sends one frame p on rc from the page (clientpage.Page.Write).
func (pg *clientPage) write(rc syscall.RawConn, p []byte) (int, error) { return pg.Write(rc, p) }

// relayBuffer is procstate.OnRelay's buffer and hold function.
func (pg *clientPage) relayBuffer() ([]byte, func(stream, n int)) { return pg.RelayBuffer() }

// handOff sends the master msg with fds attached (the client's
// connection and page, or a lent command's pipes).
func (rw *runningWorker) handOff(msg controlMsg, fds ...int) error {
	b, err := encodeMsg(msg)
	if err != nil {
		return err
	}
	rc, err := rw.ctl.SyscallConn()
	if err != nil {
		return fmt.Errorf("sending %s message: %w", msg.Type, err)
	}
	if err := fdpass.Send(rc, b, fds...); err != nil {
		return fmt.Errorf("sending %s message: %w", msg.Type, err)
	}
	return nil
}

// recvMsgFDs is recvMsg for the master: a message may carry descriptors,
// which the caller owns.
func recvMsgFDs(c *net.UnixConn, buf []byte) (controlMsg, []int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return controlMsg{}, nil, err
	}
	b, fds, err := fdpass.RecvInto(rc, buf, 2)
	if err != nil {
		if errors.Is(err, unix.ECONNRESET) {
			// The worker closed its end with messages of ours unread
			// (a ping, a drain): its end, like end of input.
			return controlMsg{}, nil, io.EOF
		}
		return controlMsg{}, nil, err
	}
	m, err := decodeMsg(b)
	if err != nil {
		fdpass.Close(fds)
		return m, nil, err
	}
	return m, fds, nil
}

// heldClient is what the master holds of a worker's client.
type heldClient struct {
	conn, page int
	relay      []int // the running command's fd 1 and fd 2 pipes
}

func (h *heldClient) setRelay(fds []int) {
	fdpass.Close(h.relay)
	h.relay = fds
}

func (h *heldClient) close() {
	fdpass.Close(h.relay)
	_ = unix.Close(h.conn)
	_ = unix.Close(h.page)
}

// deadWorkerWait bounds how long the master waits for a worker whose
// control socket closed to be reaped, and then for each write of its
// client's answer.
const deadWorkerWait = 5 * time.Second

// answerForDead answers the client of worker p, which died holding it
// (see the top of this file), and closes what the master held.
func (s *Server) answerForDead(p *proc, h *heldClient) {
	defer h.close()
	log := s.logger().With("pid", p.pid)
	select {
	case <-p.exited:
	case <-time.After(deadWorkerWait):
		log.Warn("worker closed its control socket but did not exit; closing its client")
		return
	}
	dead, err := clientpage.ReadDead(h.page)
	if err != nil {
		log.Warn("reading a dead worker's client page", "error", err)
		return
	}
	if !dead.InCommand() {
		return // between commands: the end of the connection says it all
	}
	status := clientpage.DeathStatus(p.cmd.ProcessState)
	f := os.NewFile(uintptr(h.conn), "dead-worker-client")
	fc, err := net.FileConn(f) // a duplicate: h.conn is still closed by h.close
	f.Close()
	h.conn = -1
	if err != nil {
		log.Warn("answering a dead worker's client", "error", err)
		return
	}
	defer fc.Close()
	err = dead.Answer(h.relay, status, func(b []byte) error {
		_ = fc.SetWriteDeadline(time.Now().Add(deadWorkerWait))
		_, err := fc.Write(b)
		return err
	})
	switch {
	case errors.Is(err, clientpage.ErrTorn):
		log.Warn("worker died while writing to its client; closing the connection without its status", "status", status)
	case err != nil:
		log.Debug("answering a dead worker's client", "error", err)
	default:
		log.Info("worker ended during its client's command; answered with its status", "status", status)
	}
}
