package session

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// maxInputRequest bounds how much input one 'I' request asks for.
const maxInputRequest = 1 << 20

// copyRequestSize is what an 'I' request asks for when the command copies
// all of its stdin (io.Copy and friends, through WriteTo): each request is
// a round trip between client and server, so larger requests move the
// same bytes in fewer of them. Mercurial asks for 4096 and cmdsrv's Read
// for as much as the command's buffer holds, at most maxInputRequest;
// clients answer with at most that much (python-hglib hands the size to
// its input callback, typically a file's read), so this stays well below
// what a client could not afford to allocate.
const copyRequestSize = 256 << 10

// lineRequestSize is what an 'L' request asks for, as Mercurial does.
const lineRequestSize = 4096

// channelWriter writes to one output channel, splitting large writes into
// frames of at most maxFramePayload bytes.
type channelWriter struct {
	fw *FrameWriter
	ch byte
}

func (w *channelWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > maxFramePayload {
			chunk = chunk[:maxFramePayload]
		}
		if err := w.fw.WriteFrame(w.ch, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// ChannelReader is a command's stdin in a session without attached stdio:
// each Read asks the client for input on the 'I' channel, ReadLine on 'L'.
// A zero-length answer is end of input, and stays so.
type ChannelReader struct {
	fw      *FrameWriter
	br      *bufio.Reader
	max     int
	eof     bool
	pending []byte // bytes of an answer beyond what the reader asked for
	broken  error  // the connection failed while asking for input: sticky
	buf     []byte // answers of WriteTo and ReadLine, reused
}

// Read asks the client for at most len(p) bytes.
func (r *ChannelReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	if r.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	return r.ask(ChannelInput, p[:min(len(p), maxInputRequest)])
}

// WriteTo copies the rest of the input to w; io.Copy uses it. It asks for
// copyRequestSize bytes at a time, whatever buffer the command's copy
// loop has, and each answer goes from the connection to w without a copy
// of its own.
func (r *ChannelReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pending) > 0 {
			n, err := w.Write(r.pending)
			total += int64(n)
			r.pending = r.pending[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.eof {
			return total, nil
		}
		if cap(r.buf) < copyRequestSize {
			r.buf = make([]byte, copyRequestSize)
		}
		n, err := r.ask(ChannelInput, r.buf[:copyRequestSize])
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err = w.Write(r.buf[:n])
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// ask requests at most len(p) bytes on ch and reads the answer into p. An
// answer longer than asked is accepted, as Mercurial does: it is bounded
// by the session's block limit only, and the excess is kept for later
// reads so that the stream never loses its place.
func (r *ChannelReader) ask(ch byte, p []byte) (int, error) {
	if r.broken != nil {
		return 0, r.broken
	}
	if err := r.fw.WriteHeader(ch, uint32(len(p))); err != nil {
		r.broken = err
		return 0, err
	}
	n, err := wire.ReadBlockLength(r.br)
	if err != nil {
		r.broken = fmt.Errorf("reading input: %w", err)
		return 0, r.broken
	}
	if n == 0 {
		r.eof = true
		return 0, io.EOF
	}
	if int64(n) <= int64(len(p)) {
		// Straight into the caller's buffer: a large read of the
		// bufio.Reader bypasses its buffer, so no copy is made here.
		if _, err := io.ReadFull(r.br, p[:n]); err != nil {
			r.broken = fmt.Errorf("reading input: %w", wire.Truncated(err, n))
			return 0, r.broken
		}
		return int(n), nil
	}
	data, err := wire.ReadBody(r.br, n, r.max)
	if err != nil {
		r.broken = fmt.Errorf("reading input: %w", err)
		return 0, r.broken
	}
	k := copy(p, data)
	r.pending = append(r.pending, data[k:]...)
	return k, nil
}

// ReadLine reads one line through 'L' requests, including its newline
// (absent only at end of input). At end of input with nothing read it
// returns io.EOF.
func (r *ChannelReader) ReadLine() (string, error) {
	var line []byte
	for {
		if len(r.pending) > 0 {
			if i := bytes.IndexByte(r.pending, '\n'); i >= 0 {
				line = append(line, r.pending[:i+1]...)
				r.pending = r.pending[i+1:]
				return string(line), nil
			}
			line, r.pending = append(line, r.pending...), nil
		}
		if r.eof {
			break
		}
		if cap(r.buf) < lineRequestSize {
			r.buf = make([]byte, lineRequestSize)
		}
		n, err := r.ask(ChannelLine, r.buf[:lineRequestSize])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		data := r.buf[:n]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = append(line, data[:i+1]...)
			// The rest of this answer comes before any excess ask kept.
			r.pending = append(append([]byte(nil), data[i+1:]...), r.pending...)
			return string(line), nil
		}
		line = append(line, data...)
	}
	if len(line) == 0 {
		return "", io.EOF
	}
	return string(line), nil
}

// LineReader is implemented by stdin readers that can ask for one line at a
// time (the 'L' channel).
type LineReader interface {
	ReadLine() (string, error)
}
