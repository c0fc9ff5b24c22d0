package protocol

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// maxInputRequest bounds how much input one 'I' request asks for.
const maxInputRequest = 1 << 20

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

// NewChannelWriter returns a writer whose writes become frames on ch.
func NewChannelWriter(fw *FrameWriter, ch byte) io.Writer {
	return &channelWriter{fw: fw, ch: ch}
}

// ChannelReader is a command's stdin in a session without attached stdio:
// each Read asks the client for input on the 'I' channel, ReadLine on 'L'.
// A zero-length answer is end of input, and stays so.
type ChannelReader struct {
	fw      *FrameWriter
	br      *bufio.Reader
	max     int
	eof     bool
	pending []byte // bytes of an 'L' answer beyond what ReadLine returned
	broken  error  // the connection failed while asking for input: sticky
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
	want := min(len(p), maxInputRequest)
	data, err := r.ask(ChannelInput, want)
	if err != nil {
		return 0, err
	}
	n := copy(p, data)
	r.pending = append(r.pending, data[n:]...)
	return n, nil
}

func (r *ChannelReader) ask(ch byte, n int) ([]byte, error) {
	if r.broken != nil {
		return nil, r.broken
	}
	if err := r.fw.WriteRequest(ch, uint32(n)); err != nil {
		r.broken = err
		return nil, err
	}
	// The answer may be longer than asked, as Mercurial accepts: bound it
	// by the session's block limit only and keep the excess for later reads,
	// so the stream never loses its place.
	data, err := ReadBlock(r.br, r.max)
	if err != nil {
		r.broken = fmt.Errorf("reading input: %w", err)
		return nil, r.broken
	}
	if len(data) == 0 {
		r.eof = true
		return nil, io.EOF
	}
	return data, nil
}

// ReadLine reads one line through 'L' requests, including its newline
// (absent only at end of input). At end of input with nothing read it
// returns io.EOF.
func (r *ChannelReader) ReadLine() (string, error) {
	var line []byte
	if len(r.pending) > 0 {
		if i := bytes.IndexByte(r.pending, '\n'); i >= 0 {
			line, r.pending = r.pending[:i+1], r.pending[i+1:]
			return string(line), nil
		}
		line, r.pending = r.pending, nil
	}
	for !r.eof {
		data, err := r.ask(ChannelLine, lineRequestSize)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = append(line, data[:i+1]...)
			r.pending = append(r.pending, data[i+1:]...)
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
