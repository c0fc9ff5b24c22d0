//go:build unix

package clientpage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// Dead is what a process that died serving a client left in its page,
// read by the survivor once the process is reaped.
type Dead struct {
	page int
	head [pageFrame + 1]byte // the fields and the frame's channel
}

// ReadDead reads the page of a dead process from its descriptor.
func ReadDead(page int) (*Dead, error) {
	d := &Dead{page: page}
	if _, err := unix.Pread(page, d.head[:], 0); err != nil {
		return nil, fmt.Errorf("reading a dead server's client page: %w", err)
	}
	return d, nil
}

func (d *Dead) u32(off int) uint32 { return binary.NativeEndian.Uint32(d.head[off:]) }

// InCommand reports whether the process died during a command: its
// client is owed a result. A process that died as its 'r' frame went
// out, before it could mark the command over, owes nothing.
func (d *Dead) InCommand() bool {
	if d.u32(pageInCommand) == 0 {
		return false
	}
	total, sent := d.frameSent()
	return !(total > 0 && sent == total && d.u32(pageCopied) != 0 && d.head[pageFrame] == wire.ChannelResult)
}

// frameSent returns the length of the frame being written at the death
// and how much of it counts as sent: all of a small frame whose one
// write(2) the death may have cut (it went out whole or not at all; the
// write takes microseconds, the stretch before it nanoseconds).
func (d *Dead) frameSent() (total, sent uint32) {
	total, sent = d.u32(pageTotal), d.u32(pageSent)
	if d.u32(pageWriting) != 0 && sent == 0 && total <= atomicFrame {
		sent = total
	}
	return total, sent
}

// Ready reports whether the process got as far as serving (SetReady).
func (d *Dead) Ready() bool { return d.u32(pageReady) != 0 }

// ErrTorn is Answer's error when the process died inside a write the
// page cannot finish: the stream's state is unknown, and the connection
// must end without a result.
var ErrTorn = errors.New("died while writing to its client")

// Answer answers the client in the dead process's place (see the package
// doc): it finishes the frame cut by the death, forwards what relay (the
// last lent command's fd 1 and fd 2 pipes, if any) still holds, and
// writes the 'r' frame with status, through write (one call a frame or
// piece of one). ErrTorn, before anything is written: no result can be
// given.
func (d *Dead) Answer(relay []int, status int, write func([]byte) error) error {
	total, sent := d.frameSent()
	if sent != total && (d.u32(pageWriting) != 0 || d.u32(pageCopied) == 0) {
		// Cut inside a larger frame's write, or one the page does not
		// hold: where the stream stands is unknown.
		return ErrTorn
	}
	// The relay's chunk, if it was not (all) sent: unless it is the
	// frame in flight, finished below, it goes out after that frame,
	// before the rest of its pipe.
	var chunk []byte
	chunkStream := min(d.u32(pageRelayCh), 1)
	if relayLen := d.u32(pageRelayLen); relayLen > 0 && relayLen <= pageRelayCap {
		chunk = make([]byte, relayLen)
		if _, err := unix.Pread(d.page, chunk, pageRelay); err != nil {
			return fmt.Errorf("reading a dead server's output: %w", err)
		}
		if total == 5+relayLen {
			frame := make([]byte, total)
			if _, err := unix.Pread(d.page, frame, pageFrame); err == nil && bytes.Equal(frame[5:], chunk) {
				chunk = nil // in flight
			}
		}
	}
	chunkRead := d.u32(pageRelayRead) != 0
	if total > sent {
		rest := make([]byte, total-sent)
		if _, err := unix.Pread(d.page, rest, int64(pageFrame+sent)); err != nil {
			return fmt.Errorf("reading a dead server's last frame: %w", err)
		}
		if err := write(rest); err != nil {
			return fmt.Errorf("finishing a dead server's last frame: %w", err)
		}
	}
	channels := []byte{wire.ChannelOutput, wire.ChannelError}
	for i, fd := range relay {
		if i >= len(channels) {
			break
		}
		rest, _ := ReadPipe(fd) // unreadable: nothing more to forward from it
		if chunk != nil && uint32(i) == chunkStream {
			if chunkTaken(chunk, chunkRead, rest) {
				rest = append(chunk, rest...)
			}
		}
		if err := WriteFrames(write, channels[i], rest); err != nil {
			return fmt.Errorf("forwarding a dead server's command output: %w", err)
		}
	}
	r := binary.BigEndian.AppendUint32(wire.AppendHeader(nil, wire.ChannelResult, 4), uint32(int32(status&0xff)))
	if err := write(r); err != nil {
		return fmt.Errorf("answering in a dead server's place: %w", err)
	}
	return nil
}

// chunkTaken reports whether the relay's chunk in the page had left its
// pipe, whose rest is what the pipe holds now. A read the process died
// in may or may not have happened: the relay zeroed the page's copy
// before it, and the kernel fills it only with the bytes it takes out of
// the pipe, so a chunk that is not all zeros was taken, as was one the
// pipe no longer has room for. An all-zero chunk of a pipe that still
// holds as much was not: that is wrong only for output of that many zero
// bytes read as the process died, where it is lost.
func chunkTaken(chunk []byte, read bool, rest []byte) bool {
	if read || len(rest) < len(chunk) {
		return true
	}
	for _, b := range chunk {
		if b != 0 {
			return true
		}
	}
	return false
}

// WriteFrames sends b on channel ch through write, in frames of at most
// 64 KiB.
func WriteFrames(write func([]byte) error, ch byte, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		if err := write(append(wire.AppendHeader(nil, ch, uint32(n)), b[:n]...)); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// ErrAnswerUnknown is SkipAnswer's error when what the dead process read
// of its client's answer does not tell where the answer ends.
var ErrAnswerUnknown = errors.New("cannot tell where the client's answer to an input request ends")

// SkipAnswer reads from r, the client's stream, the rest of the answer to
// an 'I' or 'L' request the dead process was waiting for, if any, so
// that the stream is at the client's next request. It returns the number
// of bytes skipped.
func (d *Dead) SkipAnswer(r io.Reader) (int, error) {
	if d.u32(pageAsking) == 0 {
		return 0, nil
	}
	got := d.u32(pageInRead) - d.u32(pageAskedAt)
	var head [4]byte
	copy(head[:], d.head[pageAnswer:pageAnswer+4])
	skipped := 0
	if got < 4 {
		n, err := io.ReadFull(r, head[got:])
		skipped += n
		if err != nil {
			return skipped, fmt.Errorf("reading the client's answer: %w", err)
		}
		got = 4
	}
	total := 4 + int64(binary.BigEndian.Uint32(head[:]))
	if int64(got) > total {
		return skipped, ErrAnswerUnknown
	}
	n, err := io.CopyN(io.Discard, r, total-int64(got))
	skipped += int(n)
	if err != nil {
		return skipped, fmt.Errorf("reading the client's answer: %w", err)
	}
	return skipped, nil
}

// ReadPipe reads what pipe fd holds now. Writers of it still running
// (children the command left) are not waited for.
func ReadPipe(fd int) ([]byte, error) {
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

// DeathStatus is the status a shell gives a process that ended as ps did.
func DeathStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 255
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
