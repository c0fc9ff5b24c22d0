//go:build unix

// Package clientpage lets a process that serves a client die during a
// command (os.Exit, log.Fatal, a panic in a goroutine, a signal's default
// action) without the client losing that command's output and status:
// another process, which holds the client's connection too, answers in
// its place. A unix-pool worker and its master use it (unixfork), and so
// do a supervised pipe server's child and its parent (pipe).
//
// The serving process keeps its client page, a small shared memory file,
// up to date with what the other needs to know after its death: whether a
// command is running (from the runcommand request's arguments until its
// 'r' frame is written), and the frame being written to the client, if
// any, with how much of it has gone out. With each command lent the
// process (procstate), the other also gets the read ends of the fd 1 and
// fd 2 pipes. Once the dead process is reaped, if a command was running,
// the survivor finishes the frame it was writing (from the page),
// forwards what the pipes still hold on 'o' and 'e', and writes the 'r'
// frame with the exit status (128+N for a death by signal N, as a shell
// reports it); otherwise the end of the connection says it all.
//
// A torn frame: the serving process writes every frame from the page,
// one write(2) at a time, storing how much went out after each, so the
// survivor can send the rest of a frame cut by the death. What it cannot
// know is whether a write the process was inside when it died went out
// (it dies as the call returns). For a frame of at most atomicFrame
// bytes written in one call (every frame of a lent command's output: the
// relay reads chunks that fit) that does not matter for the stream: a
// unix stream socket takes it whole or not at all (a pipe does so up to
// PIPE_BUF, and on Linux, whose pipes cmdsrv grows to 1 MiB, whenever it
// has room for it), so the survivor counts it sent and the stream stays
// at a frame boundary (the frame is lost only if the call had not
// happened, or found the connection full, at the death). A larger frame
// cut inside a write leaves the stream's state unknown: the survivor
// ends the connection without a result rather than risk a corrupt one.
// A frame larger than the page is not copied and is treated the same
// way.
//
// The relay's chunk in hand (read from the pipe, not yet in a frame) is
// kept in the page too (procstate.OnRelay), and sent by the survivor if
// the frame that carries it had not gone out.
//
// A pipe server's child also keeps, for its parent, whether it got as
// far as serving (a death before is its constructor's), and what it has
// read of the client's answer to an 'I' or 'L' request, so that the
// parent can take the rest of that answer off the pipe before a new
// child reads the next request there.
package clientpage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

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
	pageReady     = 32 // 1 once the process serves the session (SetReady)
	pageInRead    = 36 // bytes read from the client so far, modulo 2^32 (Read)
	pageAsking    = 40 // 1 from an 'I' or 'L' frame to the next frame of another channel
	pageAskedAt   = 44 // pageInRead as that frame went out
	pageAnswer    = 48 // the first 4 bytes read after it: the answer's length
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

// Page is the serving process's mapping of its client page.
type Page struct {
	f   *os.File
	mem []byte
}

// New creates a client page, to hand to the process that answers in this
// one's place (File).
func New() (*Page, error) {
	f, err := NewFile("cmdsrv-client-page")
	if err != nil {
		return nil, fmt.Errorf("creating the client page: %w", err)
	}
	if err := f.Truncate(pageSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("sizing the client page: %w", err)
	}
	pg, err := Map(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return pg, nil
}

// Map maps f, a page made by New or handed over by the survivor (which
// sized it with Size).
func Map(f *os.File) (*Page, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping the client page: %w", err)
	}
	return &Page{f: f, mem: mem}, nil
}

// Size sizes f, a new file (NewFile), for a page.
func Size(f *os.File) error {
	if err := f.Truncate(pageSize); err != nil {
		return fmt.Errorf("sizing the client page: %w", err)
	}
	return nil
}

// File is the page's file, whose descriptor is handed to the survivor.
func (pg *Page) File() *os.File { return pg.f }

func (pg *Page) field(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&pg.mem[off]))
}

func (pg *Page) set(off int, v uint32) { atomic.StoreUint32(pg.field(off), v) }

func (pg *Page) load(off int) uint32 { return atomic.LoadUint32(pg.field(off)) }

// Reset starts a client: no command, no frame, nothing read.
func (pg *Page) Reset() {
	for _, off := range []int{pageInCommand, pageWriting, pageTotal, pageSent, pageCopied, pageRelayLen, pageReady, pageInRead, pageAsking} {
		pg.set(off, 0)
	}
}

// StartCommand marks the client as owed a result (Session.OnCommand).
func (pg *Page) StartCommand() { pg.set(pageInCommand, 1) }

// SetReady records that the process serves the session: its hello is
// out, or it resumes a session another began.
func (pg *Page) SetReady() { pg.set(pageReady, 1) }

// Read reads from r, the client's stream, into p, counting what it took
// (see the package doc).
func (pg *Page) Read(r io.Reader, p []byte) (int, error) {
	n, err := r.Read(p)
	if n > 0 {
		before := pg.load(pageInRead)
		asking := pg.load(pageAsking) != 0
		got := before - pg.load(pageAskedAt)
		if asking && got < 4 {
			copy(pg.mem[pageAnswer+int(got):pageAnswer+4], p[:n])
		}
		pg.set(pageInRead, before+uint32(n))
		if asking && got+uint32(n) >= 4 && got+uint32(n)-4 >= pg.answerLen() {
			pg.set(pageAsking, 0) // answered
		}
	}
	return n, err
}

// answerLen is the length the client's answer to an input request gave.
func (pg *Page) answerLen() uint32 {
	return binary.BigEndian.Uint32(pg.mem[pageAnswer : pageAnswer+4])
}

// Write sends one frame p (the frame writer's: header and payload, under
// its lock) on rc from the page, recording its progress there.
func (pg *Page) Write(rc syscall.RawConn, p []byte) (int, error) {
	if len(p) > 0 {
		if ch := p[0]; ch == wire.ChannelInput || ch == wire.ChannelLine {
			// Before the frame: its answer may be read as soon as it
			// is out. (Other frames, the relay's output, may go out
			// while it is awaited: Read sees it answered.)
			pg.set(pageAskedAt, pg.load(pageInRead))
			pg.set(pageAsking, 1)
		}
	}
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
		if rl := pg.load(pageRelayLen); rl > 0 && len(p) == 5+int(rl) &&
			bytes.Equal(p[5:], pg.mem[pageRelay:pageRelay+int(rl)]) {
			pg.set(pageRelayLen, 0)
		}
		if len(p) > 0 && p[0] == wire.ChannelResult {
			// The command's answer is out. Before the frame is: a
			// death in between shows the whole 'r' frame sent
			// (Dead.InCommand).
			pg.set(pageInCommand, 0)
		}
		pg.set(pageTotal, 0)
	}
	if err != nil {
		return sent, &net.OpError{Op: "write", Net: "unix", Err: err}
	}
	return sent, nil
}

// RelayBuffer is procstate.OnRelay's buffer and its hold function: the
// relay's chunk in hand lives in the page, for the survivor to send if
// the process dies before it is forwarded.
func (pg *Page) RelayBuffer() ([]byte, func(stream, n int)) {
	return pg.mem[pageRelay:pageSize], func(stream, n int) {
		if n == 0 {
			return // Write cleared it as its frame went out
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
