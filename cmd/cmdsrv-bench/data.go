package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// The lean reader: frames read with no client package, straight from the
// server's pipe, each payload into one reused buffer. Next to the client
// package's row it shows which side, client or server, bounds a figure.

// leanConn is a pipe session driven by hand.
type leanConn struct {
	cmd *exec.Cmd
	in  io.WriteCloser // the server's stdin
	out io.Reader      // the server's stdout
	buf []byte         // payloads and 'I' answers, reused
}

func startLean(cfg *config) (*leanConn, error) {
	cmd := exec.Command(cfg.cmdsrv, "serve", "--cmdserver", "pipe")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &leanConn{cmd: cmd, in: in, out: out, buf: make([]byte, 1<<20)}
	if ch, _, err := c.frame(); err != nil || ch != 'o' {
		c.close()
		return nil, fmt.Errorf("lean reader: hello: %q %v", ch, err)
	}
	return c, nil
}

// frame reads one frame; the payload (nil for 'I' and 'L') is valid until
// the next call.
func (c *leanConn) frame() (ch byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.out, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if hdr[0] == 'I' || hdr[0] == 'L' {
		return hdr[0], c.buf[:min(int(n), len(c.buf))], nil
	}
	if int(n) > len(c.buf) {
		c.buf = make([]byte, n)
	}
	_, err = io.ReadFull(c.out, c.buf[:n])
	return hdr[0], c.buf[:n], err
}

// run runs args, counting the bytes on 'o'; input, if set, fills an 'I'
// answer and returns its length (0: end of input).
func (c *leanConn) run(args []string, input func([]byte) int) (int64, error) {
	msg := append([]byte("runcommand\n"), 0, 0, 0, 0)
	msg = append(msg, strings.Join(args, "\x00")...)
	binary.BigEndian.PutUint32(msg[len("runcommand\n"):], uint32(len(msg)-len("runcommand\n")-4))
	if _, err := c.in.Write(msg); err != nil {
		return 0, err
	}
	var got int64
	answer := make([]byte, 4+len(c.buf))
	for {
		ch, p, err := c.frame()
		if err != nil {
			return got, err
		}
		switch ch {
		case 'o':
			got += int64(len(p))
		case 'e':
			return got, fmt.Errorf("lean reader: 'e': %s", p)
		case 'r':
			if len(p) != 4 || binary.BigEndian.Uint32(p) != 0 {
				return got, fmt.Errorf("lean reader: result %x", p)
			}
			return got, nil
		case 'I', 'L':
			k := 0
			if input != nil {
				k = input(answer[4 : 4+len(p)])
			}
			binary.BigEndian.PutUint32(answer, uint32(k))
			if _, err := c.in.Write(answer[:4+k]); err != nil {
				return got, err
			}
		}
	}
}

func (c *leanConn) close() {
	c.in.Close()
	_ = c.cmd.Wait()
}

// leanStart is servedStart with the lean reader.
func leanStart(cfg *config, args []string, n int64, feed int64) func() (func() (float64, error), func(), error) {
	return func() (func() (float64, error), func(), error) {
		c, err := startLean(cfg)
		if err != nil {
			return nil, nil, err
		}
		once := func() (float64, error) {
			left := feed
			input := func(p []byte) int {
				k := min(int64(len(p)), left)
				left -= k
				return int(k) // the bytes are whatever the buffer holds
			}
			start := time.Now()
			got, err := c.run(args, input)
			if err != nil || got != n {
				return 0, fmt.Errorf("%v: %d bytes of %d, %v", args, got, n, err)
			}
			return float64(n) / time.Since(start).Seconds(), nil
		}
		return once, c.close, nil
	}
}

// measurement is one row of a throughput group: start sets it up and
// returns one repetition and the cleanup.
type measurement struct {
	name, baseline string
	start          func() (once func() (float64, error), stop func(), err error)
}

// interleaved runs throughput measurements cfg.reps times each, in turn
// (see interleavedRows).
func interleaved(cfg *config, group string, ms []measurement) ([]row, error) {
	return interleavedRows(group, "throughput", cfg.reps, ms)
}

// interleavedRows sets every measurement up, then runs one repetition of
// each in turn, reps times: every row samples the same moments of a busy
// machine, so the ratios hold better than the absolute figures. Each row
// is the median of its repetitions, in unit ("": time).
func interleavedRows(group, unit string, reps int, ms []measurement) ([]row, error) {
	onces := make([]func() (float64, error), len(ms))
	for i, m := range ms {
		once, stop, err := m.start()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		defer stop()
		onces[i] = once
	}
	vals := make([][]float64, len(ms))
	for r := 0; r < reps; r++ {
		for i, once := range onces {
			v, err := once()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ms[i].name, err)
			}
			vals[i] = append(vals[i], v)
		}
	}
	rows := make([]row, len(ms))
	for i, m := range ms {
		sort.Float64s(vals[i])
		rows[i] = row{group: group, name: m.name, value: vals[i][len(vals[i])/2], unit: unit, baseline: m.baseline}
	}
	return rows, nil
}

// drainBuffer is what the raw floors read with: as large as the client
// package's read buffer, so that the floor is not held back by small reads
// (io.Discard reads 8 KiB at a time).
const drainBuffer = 256 << 10

// drain reads r to its end, discarding, and returns the byte count.
func drain(r io.Reader) (int64, error) {
	buf := make([]byte, drainBuffer)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// awaitReady reads the byte a helper writes once it runs.
func awaitReady(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil || b[0] != readyByte {
		return fmt.Errorf("helper did not start: %q %v", b[:], err)
	}
	return nil
}

// rawSocketStart is the floor of the unix service's output: a child in
// helper role connects to a unix socket and writes n bytes, read and
// discarded here, timed from its ready byte to the last byte.
func rawSocketStart(cfg *config, n int64) func() (func() (float64, error), func(), error) {
	return func() (func() (float64, error), func(), error) {
		addr := filepath.Join(cfg.workDir, "raw.sock")
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, nil, err
		}
		once := func() (float64, error) {
			cmd := helperCmd(cfg, fmt.Sprintf("emitunix:%d:%s", n, addr))
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			conn, err := l.Accept()
			if err != nil {
				return 0, err
			}
			defer conn.Close()
			if err := awaitReady(conn); err != nil {
				return 0, err
			}
			start := time.Now()
			got, err := drain(conn)
			elapsed := time.Since(start)
			if err != nil || got != n {
				return 0, fmt.Errorf("%d bytes of %d, %v", got, n, err)
			}
			return float64(n) / elapsed.Seconds(), nil
		}
		return once, func() { l.Close() }, nil
	}
}

// unixStart runs debugoutput of n bytes on a connection to the unix
// service, read through the client package.
func unixStart(cfg *config, n int64) func() (func() (float64, error), func(), error) {
	return func() (func() (float64, error), func(), error) {
		s, err := startUnix(cfg, "output.sock", nil)
		if err != nil {
			return nil, nil, err
		}
		c, err := client.Dial(context.Background(), s.addr)
		if err != nil {
			s.stop()
			return nil, nil, err
		}
		once := func() (float64, error) {
			return clientOnce(c, []string{"debugoutput", fmt.Sprint(n)}, n, nil)
		}
		return once, func() { c.Close(); s.stop() }, nil
	}
}
