package session

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// Channel letters of the frames a server sends.
const (
	ChannelOutput  = wire.ChannelOutput  // command output; also carries the hello
	ChannelError   = wire.ChannelError   // error output
	ChannelDebug   = wire.ChannelDebug   // debug output and the log when cmdserver.log=-
	ChannelResult  = wire.ChannelResult  // answer of a command
	ChannelMessage = wire.ChannelMessage // structured message (CBOR)
	ChannelInput   = wire.ChannelInput   // request for at most N bytes of input
	ChannelLine    = wire.ChannelLine    // request for one line of at most N bytes
	ChannelSystem  = wire.ChannelSystem  // chg: ask the client to run a command
)

// DefaultMaxBlock bounds a request block (runcommand arguments, setenv,
// chdir...) when a Session does not set its own limit.
const DefaultMaxBlock = wire.DefaultMaxBlock

// maxFramePayload bounds the payload of one output frame: larger writes are
// split so a huge write neither doubles its memory in one frame buffer nor
// starves other writers.
const maxFramePayload = 256 << 10

var (
	// ErrTruncated reports end of input in the middle of a request: a block
	// shorter than its declared length, a partial length, or a command name
	// without its newline. Nothing of such a request is executed.
	ErrTruncated = wire.ErrTruncated

	// ErrBlockTooLarge reports a block whose declared length exceeds the limit.
	ErrBlockTooLarge = wire.ErrBlockTooLarge
)

// vectorMin is the payload size from which a frame goes out with writev
// (header and payload from where they are) rather than copied into one
// buffer: below it the copy costs less than the longer system call.
const vectorMin = 16 << 10

// FrameWriter writes frames to an underlying writer. Each frame is sent with
// one system call (one Write, or one writev on the writer's descriptor for
// large payloads, so that the payload is not copied first), and
// concurrent callers are serialised, so frames from several goroutines
// never interleave.
type FrameWriter struct {
	mu     sync.Mutex // guards w, buf and hdr
	w      io.Writer
	writev func(hdr, payload []byte) error // nil: w has no descriptor
	buf    []byte
	hdr    [5]byte // a frame header: channel and 4-byte length
}

// NewFrameWriter returns a FrameWriter that writes to w. When w is a
// file or a connection (syscall.Conn), large frames are written straight
// to its descriptor; a wrapper that must see every byte (a counter, a
// recorder) should not implement syscall.Conn.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{w: w, writev: vectorWriterFor(w)}
}

// WriteFrame sends one frame on channel ch with the given payload.
func (fw *FrameWriter) WriteFrame(ch byte, payload []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var err error
	if fw.writev != nil && len(payload) >= vectorMin {
		err = fw.writev(wire.AppendHeader(fw.hdr[:0], ch, uint32(len(payload))), payload)
	} else {
		fw.buf = wire.AppendHeader(fw.buf[:0], ch, uint32(len(payload)))
		fw.buf = append(fw.buf, payload...)
		_, err = fw.w.Write(fw.buf)
		if cap(fw.buf) > 2*maxFramePayload {
			fw.buf = nil // do not pin the memory of one huge frame
		}
	}
	if err != nil {
		return fmt.Errorf("writing %q frame: %w", ch, err)
	}
	return nil
}

// WriteHeader sends a header-only frame: an input request ('I', 'L') for at
// most n bytes, or chg's attachio marker.
func (fw *FrameWriter) WriteHeader(ch byte, n uint32) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.buf = wire.AppendHeader(fw.buf[:0], ch, n)
	if _, err := fw.w.Write(fw.buf); err != nil {
		return fmt.Errorf("writing %q request: %w", ch, err)
	}
	return nil
}

// WriteResult sends a signed 4-byte integer on the 'r' channel.
func (fw *FrameWriter) WriteResult(v int32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return fw.WriteFrame(ChannelResult, b[:])
}
