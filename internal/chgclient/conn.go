//go:build unix

package chgclient

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// conn is one connection to a chgunix server.
type conn struct {
	c     *sock
	r     *bufio.Reader
	hello wire.Hello
	io    Stdio
}

// dial connects to path and reads the hello. A missing socket or a refused
// connection returns errNoServer.
func dial(path string, stdio Stdio) (*conn, error) {
	c, err := dialSock(path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %w", errNoServer, err)
		}
		return nil, fmt.Errorf("connecting to %s: %w", path, err)
	}
	cn := &conn{c: c, r: bufio.NewReaderSize(c, 64<<10), io: stdio}
	ch, payload, _, err := wire.ReadFrame(cn.r, 0)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading hello from %s: %w", path, err)
	}
	if ch != wire.ChannelOutput {
		c.Close()
		return nil, fmt.Errorf("server at %s failed before its hello: %s", path, strings.TrimSpace(string(payload)))
	}
	if cn.hello, err = wire.ParseHello(payload); err != nil {
		c.Close()
		return nil, err
	}
	if !cn.hello.Has("runcommand") {
		c.Close()
		return nil, fmt.Errorf("server at %s lacks runcommand", path)
	}
	return cn, nil
}

var errNoServer = errors.New("no server")

func (cn *conn) close() error { return cn.c.Close() }

// setup sends what chg sends after the hello, each when advertised. Like
// chg, it reads no answer to setprocname, chdir and setumask2.
func (cn *conn) setup(dir string, umask int) error {
	if cn.hello.Has("setprocname") {
		if err := cn.send("setprocname", []byte(fmt.Sprintf("chg[worker/%d]", os.Getpid())), true); err != nil {
			return err
		}
	}
	if cn.hello.Has("attachio") {
		if err := cn.attachio(); err != nil {
			return err
		}
	}
	if cn.hello.Has("chdir") {
		if err := cn.send("chdir", []byte(dir), true); err != nil {
			return err
		}
	}
	if cn.hello.Has("setumask2") {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(umask))
		if err := cn.send("setumask2", b[:], true); err != nil {
			return err
		}
	}
	return nil
}

// attachio passes the client's stdio descriptors with SCM_RIGHTS.
func (cn *conn) attachio() error {
	if err := cn.send("attachio", nil, false); err != nil {
		return err
	}
	ch, _, size, err := wire.ReadFrame(cn.r, 0)
	if err != nil {
		return fmt.Errorf("attachio: %w", err)
	}
	if ch != wire.ChannelInput {
		return fmt.Errorf("attachio: unexpected response on channel %q", ch)
	}
	if err := cn.c.sendFds(make([]byte, max(size, 1)), int(cn.io.Stdin.Fd()), int(cn.io.Stdout.Fd()), int(cn.io.Stderr.Fd())); err != nil {
		return fmt.Errorf("attachio: sending descriptors: %w", err)
	}
	res, err := cn.readResult(nil)
	if err != nil {
		return fmt.Errorf("attachio: %w", err)
	}
	if len(res) != 4 || binary.BigEndian.Uint32(res) != 3 {
		return fmt.Errorf("attachio: server did not take the 3 descriptors (answer %x)", res)
	}
	return nil
}

// send writes a request and, when withBlock, its block.
func (cn *conn) send(name string, block []byte, withBlock bool) error {
	return wire.WriteCommand(cn.c, name, block, withBlock)
}

// call sends a request and reads frames until its result.
func (cn *conn) call(name string, block []byte, withBlock bool) ([]byte, error) {
	if err := cn.send(name, block, withBlock); err != nil {
		return nil, err
	}
	return cn.readResult(nil)
}

// readResult serves the frames of a running request until 'r'. sys serves
// 'S' requests (nil: refuse them).
func (cn *conn) readResult(sys func(payload []byte) error) ([]byte, error) {
	for {
		ch, payload, size, err := wire.ReadFrame(cn.r, 0)
		if err != nil {
			if err == io.EOF {
				return nil, errServerGone
			}
			return nil, err
		}
		switch ch {
		case wire.ChannelResult:
			return payload, nil
		case wire.ChannelOutput:
			_, err = cn.io.Stdout.Write(payload)
		case wire.ChannelError:
			_, err = cn.io.Stderr.Write(payload)
		case wire.ChannelInput:
			err = cn.answerInput(int(size), false)
		case wire.ChannelLine:
			err = cn.answerInput(int(size), true)
		case wire.ChannelSystem:
			if sys == nil {
				return nil, errors.New("unexpected system request")
			}
			err = sys(payload)
		case wire.ChannelDebug, wire.ChannelMessage:
		default:
			if ch >= 'A' && ch <= 'Z' {
				return nil, fmt.Errorf("cannot handle response (ch = %c)", ch)
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

var errServerGone = errors.New("server closed the connection")

// answerInput answers 'I' or 'L' from the client's stdin (servers with
// attachio read it themselves; this serves those without).
func (cn *conn) answerInput(size int, line bool) error {
	size = min(size, 1<<20)
	buf := make([]byte, 0, size)
	var one [1]byte
	for len(buf) < size {
		if !line {
			n, err := cn.io.Stdin.Read(buf[len(buf):size])
			buf = buf[:len(buf)+n]
			if err != nil || n > 0 {
				break
			}
			continue
		}
		n, err := cn.io.Stdin.Read(one[:])
		if n == 1 {
			buf = append(buf, one[0])
			if one[0] == '\n' {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_, err := cn.c.Write(wire.AppendBlock(nil, buf))
	return err
}

// validate sends the command line and returns the server's instructions.
func (cn *conn) validate(args []string) ([]string, error) {
	if !cn.hello.Has("validate") {
		return nil, nil
	}
	res, err := cn.call("validate", []byte(strings.Join(args, "\x00")), true)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	if len(res) <= 1 {
		return nil, nil
	}
	return strings.Split(string(res), "\x00"), nil
}
