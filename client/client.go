// Package client drives a command server that speaks Mercurial's
// command-server protocol: a cmdsrv application, or Mercurial itself. It
// starts a pipe server or connects to a unix socket, reads the hello, and
// runs commands with their output and input passed through callbacks.
//
// A Client serialises its requests, so several goroutines may share one.
package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cmdsrv/cmdsrv/internal/clientraw"
	"github.com/cmdsrv/cmdsrv/internal/message"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// ErrClosed is returned for requests on a closed Client.
var ErrClosed = errors.New("client: closed")

// Hello is what a server says of itself when a connection opens.
type Hello struct {
	// Capabilities are the requests it serves (runcommand, getencoding,
	// and chg's when it is a chgunix server).
	Capabilities []string
	// Encoding is the server's encoding, normally UTF-8.
	Encoding string
	// MessageEncoding is the encoding of structured 'm' messages when the
	// server sends them (ui.message-output=channel); empty otherwise.
	MessageEncoding string
	// PID and PGID are the process and process group that serve this
	// connection: a unix server's worker, not its master.
	PID, PGID int
}

// Has reports whether the server offers the capability name.
func (h Hello) Has(name string) bool { return slices.Contains(h.Capabilities, name) }

// Client is a connection to a command server.
type Client struct {
	// Hello is the server's greeting.
	Hello Hello

	mu      sync.Mutex // serialises requests; guards the fields below
	r       *bufio.Reader
	w       io.Writer
	wbuf    []byte    // 'I' and 'L' answers, reused
	conn    net.Conn  // unix connection, or nil
	cmd     *exec.Cmd // pipe server process, or nil
	closed  bool
	waitErr error
}

// RunOptions are the callbacks of one RunCommand. Nil writers discard.
// Output reaches the writers straight from the client's read buffer: a
// frame may arrive in several Writes, and, as io.Writer says, a writer
// must not keep the slice it is given.
type RunOptions struct {
	Stdout io.Writer // 'o'
	Stderr io.Writer // 'e'
	Debug  io.Writer // 'd'
	// Input answers an 'I' request for at most size bytes; an empty answer
	// (or nil Input) is end of input.
	Input func(size int) ([]byte, error)
	// Line answers an 'L' request for one line of at most size bytes
	// (nil: end of input).
	Line func(size int) ([]byte, error)
	// Message receives decoded 'm' messages.
	Message func(msg map[string]string)
	// Dir and Env, if set, are the command's working directory (an
	// absolute path) and its whole environment, sent before it with the
	// chdir and setenv requests of a server that offers them (a unix
	// service); the session keeps them for its later commands. A pipe
	// server's are those it was started with: RunCommand fails there.
	Dir string
	Env []string
}

// New reads the hello from r and returns a Client that sends on w.
func New(r io.Reader, w io.Writer) (*Client, error) {
	c := &Client{r: bufio.NewReaderSize(r, readBufferSize), w: w}
	ch, payload, _, err := wire.ReadFrame(c.r, 0)
	if err != nil {
		return nil, fmt.Errorf("reading hello: %w", err)
	}
	if ch != wire.ChannelOutput {
		return nil, fmt.Errorf("reading hello: got %q frame %q, want 'o'", ch, payload)
	}
	h, err := wire.ParseHello(payload)
	if err != nil {
		return nil, err
	}
	c.Hello = Hello{Capabilities: h.Capabilities, Encoding: h.Encoding, MessageEncoding: h.MessageEncoding, PID: h.PID, PGID: h.PGID}
	return c, nil
}

// readBufferSize is the client's read buffer: output frames (cmdsrv sends
// at most 256 KiB in one) are handed on from it without another copy, and
// each read system call takes in as much as the pipe or socket holds.
const readBufferSize = 256 << 10

// StartPipe starts `path serve --cmdserver pipe ARGS...` and connects to it.
// The server's stderr goes to this process's stderr.
func StartPipe(ctx context.Context, path string, args ...string) (*Client, error) {
	cmd := exec.CommandContext(ctx, path, append([]string{"serve", "--cmdserver", "pipe"}, args...)...)
	return StartCommand(cmd)
}

// StartCommand starts cmd, which must serve a pipe session on its stdin and
// stdout, and connects to it. cmd.Stderr defaults to os.Stderr.
func StartCommand(cmd *exec.Cmd) (*Client, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	c, err := New(out, in)
	if err != nil {
		in.Close()
		werr := cmd.Wait()
		return nil, fmt.Errorf("%w (server: %v)", err, werr)
	}
	c.cmd = cmd
	return c, nil
}

// Dial connects to the unix socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c, err := New(conn, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.conn = conn
	return c, nil
}

// RunCommand runs args on the server and returns the command's exit code.
// When ctx is cancelled the command is interrupted: a pipe server gets
// SIGINT, a socket connection is closed.
func (c *Client) RunCommand(ctx context.Context, args []string, opts *RunOptions) (int, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	stop := c.watch(ctx)
	defer stop()
	if err := c.sendClientState(opts); err != nil {
		return 0, err
	}
	if err := c.send("runcommand", []byte(strings.Join(args, "\x00")), true); err != nil {
		return 0, err
	}
	res, err := c.readUntilResult(opts)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, err
	}
	if len(res) != 4 {
		return 0, fmt.Errorf("runcommand: result of %d bytes, want 4", len(res))
	}
	return int(int32(binary.BigEndian.Uint32(res))), nil
}

// sendClientState sends opts' Dir and Env, which have no answer.
func (c *Client) sendClientState(opts *RunOptions) error {
	for _, req := range []struct {
		name, what string
		set        bool
		block      string
	}{
		{"chdir", "directory", opts.Dir != "", opts.Dir},
		{"setenv", "environment", opts.Env != nil, strings.Join(opts.Env, "\x00")},
	} {
		if !req.set {
			continue
		}
		if !slices.Contains(c.Hello.Capabilities, req.name) {
			return fmt.Errorf("runcommand: the server does not take a command's %s (no %s capability)", req.what, req.name)
		}
		if err := c.send(req.name, []byte(req.block), true); err != nil {
			return err
		}
	}
	return nil
}

// watch interrupts the running request when ctx is cancelled.
func (c *Client) watch(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
		case <-ctx.Done():
			switch {
			case c.cmd != nil && c.cmd.Process != nil:
				_ = c.cmd.Process.Signal(syscall.SIGINT)
			case c.conn != nil:
				_ = c.conn.Close()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// GetEncoding asks the server for its encoding.
func (c *Client) GetEncoding(ctx context.Context) (string, error) {
	res, err := c.Call(ctx, "getencoding", nil, false, nil)
	return string(res), err
}

// Call sends a request command (with a block when withBlock) and reads
// frames until the 'r' answer, which it returns. It serves extension
// commands such as chg's chdir or setenv.
func (c *Client) Call(ctx context.Context, name string, block []byte, withBlock bool, opts *RunOptions) ([]byte, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	stop := c.watch(ctx)
	defer stop()
	if err := c.send(name, block, withBlock); err != nil {
		return nil, err
	}
	return c.readUntilResult(opts)
}

func init() {
	clientraw.Send = func(c any, raw []byte) error { return c.(*Client).sendRaw(raw) }
	clientraw.ReadFrame = func(c any) (byte, []byte, uint32, error) { return c.(*Client).readFrame() }
}

// sendRaw writes a raw request without reading anything back; tests use it
// (through internal/clientraw) for malformed input.
func (c *Client) sendRaw(raw []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.w.Write(raw)
	return err
}

// readFrame reads one frame from the server.
func (c *Client) readFrame() (ch byte, payload []byte, size uint32, err error) {
	return wire.ReadFrame(c.r, 0)
}

func (c *Client) send(name string, block []byte, withBlock bool) error {
	return wire.WriteCommand(c.w, name, block, withBlock)
}

func (c *Client) readUntilResult(opts *RunOptions) ([]byte, error) {
	for {
		ch, size, err := wire.ReadFrameHeader(c.r)
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("server closed the connection: %w", io.ErrUnexpectedEOF)
			}
			return nil, err
		}
		switch ch {
		case wire.ChannelOutput:
			err = c.copyPayload(opts.Stdout, ch, size)
		case wire.ChannelError:
			err = c.copyPayload(opts.Stderr, ch, size)
		case wire.ChannelDebug:
			err = c.copyPayload(opts.Debug, ch, size)
		case wire.ChannelInput, wire.ChannelLine:
			fn := opts.Input
			if ch == wire.ChannelLine {
				fn = opts.Line
			}
			err = c.answer(fn, size)
		default:
			payload, rerr := wire.ReadPayload(c.r, ch, size, 0)
			switch {
			case rerr != nil:
				return nil, rerr
			case ch == wire.ChannelResult:
				return payload, nil
			case ch == wire.ChannelMessage:
				if opts.Message != nil {
					var m map[string]string
					if m, err = message.Decode(payload); err == nil {
						opts.Message(m)
					}
				}
			case ch >= 'A' && ch <= 'Z':
				return nil, fmt.Errorf("unexpected required channel %q", ch)
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// copyPayload hands the size-byte payload of an output frame to w (nil:
// discard) piece by piece, straight from the read buffer: no allocation
// and no copy on the client's side, whatever the frame's size.
func (c *Client) copyPayload(w io.Writer, ch byte, size uint32) error {
	for left := int(size); left > 0; {
		if c.r.Buffered() == 0 {
			if _, err := c.r.Peek(1); err != nil {
				if err == io.EOF {
					err = wire.ErrTruncated
				}
				return fmt.Errorf("reading %q frame: %w", ch, err)
			}
		}
		p, _ := c.r.Peek(min(left, c.r.Buffered()))
		if w != nil {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		_, _ = c.r.Discard(len(p))
		left -= len(p)
	}
	return nil
}

// answer answers an 'I' or 'L' request for at most size bytes with what fn
// returns (nil fn: end of input), in one write.
func (c *Client) answer(fn func(int) ([]byte, error), size uint32) error {
	var data []byte
	if fn != nil {
		var err error
		if data, err = fn(int(size)); err != nil {
			return fmt.Errorf("input callback: %w", err)
		}
	}
	if len(data) > int(size) {
		data = data[:size]
	}
	c.wbuf = wire.AppendBlock(c.wbuf[:0], data)
	_, err := c.w.Write(c.wbuf)
	if cap(c.wbuf) > 2<<20 {
		c.wbuf = nil // do not pin the memory of one huge answer
	}
	if err != nil {
		return fmt.Errorf("sending input: %w", err)
	}
	return nil
}

// Close ends the session: it closes the connection (a pipe server sees end
// of input and exits) and, for a pipe server, waits for it. It returns the
// server's exit error, if any. Close is safe to call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.waitErr
	}
	c.closed = true
	if wc, ok := c.w.(io.Closer); ok {
		_ = wc.Close()
	}
	if c.cmd != nil {
		c.waitErr = c.cmd.Wait()
	}
	return c.waitErr
}

// Process returns the pipe server's process, or nil for a socket.
func (c *Client) Process() *os.Process {
	if c.cmd == nil {
		return nil
	}
	return c.cmd.Process
}
