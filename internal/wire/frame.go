package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Channel letters of the frames a server sends.
const (
	ChannelOutput  byte = 'o' // command output; also carries the hello
	ChannelError   byte = 'e' // error output
	ChannelDebug   byte = 'd' // debug output and the log when cmdserver.log=-
	ChannelResult  byte = 'r' // answer of a command
	ChannelMessage byte = 'm' // structured message (CBOR)
	ChannelInput   byte = 'I' // request for at most N bytes of input
	ChannelLine    byte = 'L' // request for one line of at most N bytes
	ChannelSystem  byte = 'S' // chg: ask the client to run a command
)

// headerSize is the size of a frame header: channel byte and 4-byte length.
const headerSize = 5

// DefaultMaxBlock bounds a request block (runcommand arguments, setenv,
// chdir...) when a Session does not set its own limit.
const DefaultMaxBlock = 64 << 20

// eagerAlloc is the block size up to which ReadBlock allocates the declared
// length at once; above it, memory grows only as bytes actually arrive.
const eagerAlloc = 64 << 10

var (
	// ErrTruncated reports end of input in the middle of a request: a block
	// shorter than its declared length, a partial length, or a command name
	// without its newline. Nothing of such a request is executed.
	ErrTruncated = errors.New("unexpected end of input in the middle of a request")

	// ErrBlockTooLarge reports a block whose declared length exceeds the limit.
	ErrBlockTooLarge = errors.New("block too large")
)

// AppendHeader appends a frame header: channel ch and length n.
func AppendHeader(b []byte, ch byte, n uint32) []byte {
	b = append(b, ch, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], n)
	return b
}

// IsInputChannel reports whether frames on ch carry no payload: the length
// is the size of the input the server asks for.
func IsInputChannel(ch byte) bool {
	return ch == ChannelInput || ch == ChannelLine
}

// ReadFrame reads one server-to-client frame. For the input channels 'I' and
// 'L' the payload is nil and size is the requested length; for the others
// size is len(payload). maxPayload bounds the payload (0: DefaultMaxBlock).
func ReadFrame(r io.Reader, maxPayload int) (ch byte, payload []byte, size uint32, err error) {
	ch, size, err = ReadFrameHeader(r)
	if err != nil || IsInputChannel(ch) {
		return ch, nil, size, err
	}
	payload, err = ReadPayload(r, ch, size, maxPayload)
	return ch, payload, size, err
}

// ReadFrameHeader reads the 5-byte header of a server-to-client frame: its
// channel and length. The payload, if the channel has one, follows; a
// reader that streams it (rather than calling ReadPayload) must consume
// exactly size bytes. End of input before any byte is io.EOF, inside the
// header ErrTruncated.
func ReadFrameHeader(r io.Reader) (ch byte, size uint32, err error) {
	hdr, err := readFixed(r, headerSize)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, fmt.Errorf("reading frame header: %w", ErrTruncated)
		}
		return 0, 0, err
	}
	return hdr[0], binary.BigEndian.Uint32(hdr[1:]), nil
}

// ReadPayload reads the size-byte payload of a frame on channel ch whose
// header ReadFrameHeader returned, bounded by maxPayload (0:
// DefaultMaxBlock) before anything is allocated.
func ReadPayload(r io.Reader, ch byte, size uint32, maxPayload int) ([]byte, error) {
	payload, err := ReadBody(r, size, maxPayload)
	if err != nil {
		return nil, fmt.Errorf("reading %q frame: %w", ch, err)
	}
	return payload, nil
}

// ReadBlock reads one client-to-server block: a 4-byte big-endian length and
// that many bytes. A length above limit (0: DefaultMaxBlock) is refused
// before anything is allocated, and memory grows only with the bytes that
// actually arrive, so a false length claim costs nothing. End of input
// anywhere inside the block is ErrTruncated.
func ReadBlock(r io.Reader, limit int) ([]byte, error) {
	n, err := ReadBlockLength(r)
	if err != nil {
		return nil, err
	}
	return ReadBody(r, n, limit)
}

// ReadBlockLength reads the 4-byte length that starts a block.
func ReadBlockLength(r io.Reader) (uint32, error) {
	hdr, err := readFixed(r, 4)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("reading block length: %w", ErrTruncated)
		}
		return 0, fmt.Errorf("reading block length: %w", err)
	}
	return binary.BigEndian.Uint32(hdr), nil
}

// readFixed reads exactly n bytes (a header: n is at most 16, bufio's
// smallest buffer) with io.ReadFull's errors and consumption. From a
// *bufio.Reader, which every client and session reads through, the bytes
// are those of its buffer, valid until the next read: a header array
// handed to r.Read would escape and cost an allocation per frame.
func readFixed(r io.Reader, n int) ([]byte, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	p, err := br.Peek(n)
	if err != nil {
		// As io.ReadFull: what arrived is consumed, and end of input
		// after some of it is unexpected.
		_, _ = br.Discard(len(p))
		if err == io.EOF && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	_, _ = br.Discard(n) // n bytes are buffered: p stays valid
	return p, nil
}

// ReadBody reads a block's n bytes, refusing n above limit (0:
// DefaultMaxBlock) before anything is allocated.
func ReadBody(r io.Reader, n uint32, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBlock
	}
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrBlockTooLarge, n, limit)
	}
	if n <= eagerAlloc {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, Truncated(err, n)
		}
		return b, nil
	}
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("block of %d bytes ended after %d: %w", n, got, ErrTruncated)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// Truncated turns end of input inside an n-byte block into ErrTruncated.
func Truncated(err error, n uint32) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("block of %d bytes ended early: %w", n, ErrTruncated)
	}
	return err
}

// WriteCommand sends a client request in one write: the command name and
// its newline, then, when withBlock, block as a length-prefixed block.
func WriteCommand(w io.Writer, name string, block []byte, withBlock bool) error {
	msg := append([]byte(name), '\n')
	if withBlock {
		msg = AppendBlock(msg, block)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("sending %s: %w", name, err)
	}
	return nil
}

// AppendBlock appends data to b as a client-to-server block.
func AppendBlock(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}
