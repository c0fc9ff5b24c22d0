package unixfork

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// A worker that exits during a command (os.Exit, log.Fatal, a panic in a
// goroutine, a signal's default action) ends that command, not the
// client's connection: the master answers the client in its place.
//
// With its 'accepted' message the worker hands the master a duplicate of
// the client's connection and of its client page, a small shared memory
// file in which it keeps what the master needs to know after its death:
// whether a command is running (from the runcommand request's arguments
// until its 'r' frame is written), and the frame being written to the
// client, if any, with how much of it has gone out. With each command
// lent the process (procstate), it also hands over the read ends of the
// fd 1 and fd 2 pipes. On 'done' the master closes what it holds. When
// the worker's control socket closes while the master still holds a
// client, the worker died with it: once the process is reaped, if a
// command was running, the master finishes the frame the worker was
// writing (from the page), forwards what the pipes still hold on 'o' and
// 'e', and writes the 'r' frame with the worker's exit status (128+N for
// a death by signal N, as a shell reports it); otherwise it just closes
// the connection, as the worker's death did before.
//
// A torn frame: the worker writes every frame from the page, one
// non-blocking write(2) at a time, storing how much went out after each,
// so the master can send the rest of a frame cut by the death. What it
// cannot know is whether a write the worker was inside when it died went
// out (it dies as the call returns). For a frame of at most atomicFrame
// bytes written in one call (every frame of a lent command's output:
// the relay reads chunks that fit) that does not matter for the stream:
// the socket took it whole or not at all, so the master counts it sent
// and the stream stays at a frame boundary (the frame is lost only if the
// call had not happened, or found the socket full, at the death). A
// larger frame cut inside a write leaves the stream's state unknown: the
// master closes the connection without a result rather than risk a
// corrupt one (as before this hand-off existed). A frame larger than the
// page is not copied and is treated the same way.
//
// The relay's chunk in hand (read from the pipe, not yet in a frame) is
// kept in the page too (procstate.OnRelay), and sent by the master if
// the frame that carries it had not gone out.

// The client page's layout: native-endian uint32 fields, then the frame.
const (
	pageInCommand = 0  // 1 from a runcommand's start to its 'r' frame
	pageWriting   = 4  // 1 while a write(2) of the frame is under way
	pageTotal     = 8  // length of the frame being written; 0: none
	pageSent      = 12 // how much of it has gone out
	pageCopied    = 16 // 1 if the frame's bytes are at pageFrame
	pageRelayLen  = 20 // bytes a lent command's relay took out of a pipe
	pageRelayCh   = 24 // from which: 0 stdout, 1 stderr
	pageRelayRead = 28 // 1: read; 0: being read (the read may not have happened)
	pageFrame     = 64
	// pageRelay is where the relay reads (procstate.OnRelay), after
	// room for the largest frame the session writes (a 256 KiB payload
	// and its header).
	pageRelay    = pageFrame + 256<<10 + 64
	pageRelayCap = atomicFrame - 5
	pageSize     = pageRelay + pageRelayCap
)

// atomicFrame bounds the frames a unix stream socket takes in one piece:
// a non-blocking write(2) of one that size queues all of it or nothing
// (Linux sends up to about 32 KiB as one buffer). The relay's chunks are
// kept within it.
const atomicFrame = 16 << 10

// clientPage is the worker's mapping of its client page.
type clientPage struct {
	f   *os.File
	mem []byte
}

func newClientPage() (*clientPage, error) {
	f, err := pageFile()
	if err != nil {
		return nil, fmt.Errorf("creating the client page: %w", err)
	}
	if err := f.Truncate(pageSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("sizing the client page: %w", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mapping the client page: %w", err)
	}
	return &clientPage{f: f, mem: mem}, nil
}

func (pg *clientPage) field(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&pg.mem[off]))
}

func (pg *clientPage) set(off int, v uint32) { atomic.StoreUint32(pg.field(off), v) }

// reset starts a client: no command, no frame.
func (pg *clientPage) reset() {
	for _, off := range []int{pageInCommand, pageWriting, pageTotal, pageSent, pageCopied, pageRelayLen} {
		pg.set(off, 0)
	}
}

// startCommand marks the client as owed a result (Session.OnCommand).
func (pg *clientPage) startCommand() { pg.set(pageInCommand, 1) }

// write sends one frame p (the frame writer's: header and payload, under
// its lock) on rc from the page, recording its progress there.
func (pg *clientPage) write(rc syscall.RawConn, p []byte) (int, error) {
	buf := p
	if len(p) <= pageRelay-pageFrame {
		buf = pg.mem[pageFrame : pageFrame+len(p)]
		copy(buf, p)
		pg.set(pageCopied, 1)
	} else {
		pg.set(pageCopied, 0)
	}
	pg.set(pageSent, 0)
	pg.set(pageTotal, uint32(len(p)))
	sent := 0
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for sent < len(buf) {
			pg.set(pageWriting, 1)
			n, err := unix.Write(int(fd), buf[sent:])
			if n > 0 {
				sent += n
				pg.set(pageSent, uint32(sent))
			}
			pg.set(pageWriting, 0)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return false // wait until writable (or the deadline)
			case err != nil:
				werr = err
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err == nil {
		// The relay's chunk is out if this frame carried it; cleared
		// before the frame, so that no moment shows it owed and no
		// frame in flight.
		if rl := atomic.LoadUint32(pg.field(pageRelayLen)); rl > 0 && len(p) == 5+int(rl) &&
			bytes.Equal(p[5:], pg.mem[pageRelay:pageRelay+int(rl)]) {
			pg.set(pageRelayLen, 0)
		}
		pg.set(pageTotal, 0)
		if len(p) > 0 && p[0] == session.ChannelResult {
			pg.set(pageInCommand, 0) // the command's answer is out
		}
	}
	if err != nil {
		return sent, &net.OpError{Op: "write", Net: "unix", Err: err}
	}
	return sent, nil
}

// relayBuffer is procstate.OnRelay's buffer and its hold function: the
// relay's chunk in hand lives in the page, for the master to send if the
// worker dies before it is forwarded.
func (pg *clientPage) relayBuffer() ([]byte, func(stream, n int)) {
	return pg.mem[pageRelay:pageSize], func(stream, n int) {
		if n == 0 {
			return // page.write cleared it as its frame went out
		}
		pg.set(pageRelayRead, 0)
		pg.set(pageRelayCh, uint32(stream))
		if n < 0 {
			pg.set(pageRelayLen, uint32(-n))
			return
		}
		pg.set(pageRelayLen, uint32(n))
		pg.set(pageRelayRead, 1)
	}
}

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
	var head [pageFrame]byte
	if _, err := unix.Pread(h.page, head[:], 0); err != nil {
		log.Warn("reading a dead worker's client page", "error", err)
		return
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(head[off:]) }
	if u32(pageInCommand) == 0 {
		return // between commands: the end of the connection says it all
	}
	status := deathStatus(p.cmd.ProcessState)
	total, sent := u32(pageTotal), u32(pageSent)
	if u32(pageWriting) != 0 && sent == 0 && total <= atomicFrame {
		// Died in (or just before) the one write(2) of a small frame,
		// which went out whole or not at all: the stream is at a frame
		// boundary either way. The write takes microseconds, the
		// stretch before it nanoseconds: count it as sent.
		sent = total
	} else if u32(pageWriting) != 0 || (total > sent && u32(pageCopied) == 0) {
		log.Warn("worker died while writing to its client; closing the connection without its status", "status", status)
		return
	}
	f := os.NewFile(uintptr(h.conn), "dead-worker-client")
	fc, err := net.FileConn(f) // a duplicate: h.conn is still closed by h.close
	f.Close()
	h.conn = -1
	if err != nil {
		log.Warn("answering a dead worker's client", "error", err)
		return
	}
	defer fc.Close()
	write := func(b []byte) error {
		_ = fc.SetWriteDeadline(time.Now().Add(deadWorkerWait))
		_, err := fc.Write(b)
		return err
	}
	// The relay's chunk, if it was not (all) sent: unless it is the
	// frame in flight, finished below, it goes out after that frame,
	// before the rest of its pipe.
	var chunk []byte
	chunkStream := min(u32(pageRelayCh), 1)
	if relayLen := u32(pageRelayLen); relayLen > 0 && relayLen <= pageRelayCap {
		chunk = make([]byte, relayLen)
		if _, err := unix.Pread(h.page, chunk, pageRelay); err != nil {
			log.Warn("reading a dead worker's output", "error", err)
			return
		}
		if total == 5+relayLen {
			frame := make([]byte, total)
			if _, err := unix.Pread(h.page, frame, pageFrame); err == nil && bytes.Equal(frame[5:], chunk) {
				chunk = nil // in flight
			}
		}
	}
	chunkRead := u32(pageRelayRead) != 0
	if total > sent {
		rest := make([]byte, total-sent)
		if _, err := unix.Pread(h.page, rest, int64(pageFrame+sent)); err != nil {
			log.Warn("reading a dead worker's last frame", "error", err)
			return
		}
		if err := write(rest); err != nil {
			log.Debug("finishing a dead worker's last frame", "error", err)
			return
		}
	}
	channels := []byte{session.ChannelOutput, session.ChannelError}
	for i, fd := range h.relay {
		if i >= len(channels) {
			break
		}
		rest, err := readPipe(fd)
		if err != nil {
			log.Debug("reading a dead worker's command output", "error", err)
		}
		if chunk != nil && uint32(i) == chunkStream {
			// A chunk being read when the worker died: if the pipe
			// still starts with it the read did not happen (the relay
			// zeroed the page's copy first, so only a run of zero bytes
			// can mislead this); else the page holds what it took.
			if chunkRead || !bytes.HasPrefix(rest, chunk) {
				rest = append(chunk, rest...)
			}
		}
		for len(rest) > 0 {
			n := min(len(rest), 64<<10)
			if err := write(append(wire.AppendHeader(nil, channels[i], uint32(n)), rest[:n]...)); err != nil {
				log.Debug("forwarding a dead worker's command output", "error", err)
				return
			}
			rest = rest[n:]
		}
	}
	r := binary.BigEndian.AppendUint32(wire.AppendHeader(nil, session.ChannelResult, 4), uint32(int32(status&0xff)))
	if err := write(r); err != nil {
		log.Debug("answering a dead worker's client", "error", err)
		return
	}
	log.Info("worker ended during its client's command; answered with its status", "status", status)
}

// readPipe reads what pipe fd holds now. Writers of it still running
// (children the command left) are not waited for.
func readPipe(fd int) ([]byte, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("reading a command's output: %w", err)
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			return out, nil // EAGAIN: empty; 0: every writer gone
		}
		out = append(out, buf[:n]...)
	}
}

// deathStatus is the status a shell gives a process that ended as ps did.
func deathStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 255
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
