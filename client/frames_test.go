package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/message"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// frameBytes is one server-to-client frame.
func frameBytes(ch byte, payload []byte) []byte {
	b := append([]byte{ch}, binary.BigEndian.AppendUint32(nil, uint32(len(payload)))...)
	return append(b, payload...)
}

// request is a header-only frame ('I', 'L') asking for n bytes.
func request(ch byte, n uint32) []byte {
	return append([]byte{ch}, binary.BigEndian.AppendUint32(nil, n)...)
}

var helloFrame = frameBytes('o', []byte("capabilities: getencoding runcommand\nencoding: UTF-8\npid: 1\npgid: 1"))

// writeLog records every Write separately.
type writeLog struct{ writes [][]byte }

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

// scripted returns a client reading the given server bytes after a hello,
// and the log of what it sends.
func scripted(t *testing.T, server ...[]byte) (*client.Client, *writeLog) {
	t.Helper()
	var sent writeLog
	c, err := client.New(bytes.NewReader(bytes.Join(append([][]byte{helloFrame}, server...), nil)), &sent)
	require.NoError(t, err)
	return c, &sent
}

// TestOutputFramesLargerThanTheReadBuffer: an output frame several times
// the client's read buffer reaches the writer whole and in order, between
// frames of other channels, and the exit code after them is read right.
func TestOutputFramesLargerThanTheReadBuffer(t *testing.T) {
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i % 251)
	}
	msg, err := message.Encode("warning", "careful\n")
	require.NoError(t, err)
	c, _ := scripted(t,
		frameBytes('o', []byte("first\n")),
		frameBytes('o', big),
		frameBytes('e', []byte("err\n")),
		frameBytes('x', []byte("an unknown optional channel is skipped")),
		frameBytes('d', []byte("dbg\n")),
		frameBytes('m', msg),
		frameBytes('o', []byte("last\n")),
		frameBytes('r', []byte{0, 0, 0, 7}))
	var stdout, stderr, debug bytes.Buffer
	var msgs []map[string]string
	code, err := c.RunCommand(context.Background(), []string{"x"}, &client.RunOptions{
		Stdout: &stdout, Stderr: &stderr, Debug: &debug,
		Message: func(m map[string]string) { msgs = append(msgs, m) },
	})
	require.NoError(t, err)
	require.Equal(t, 7, code)
	require.True(t, bytes.Equal(append(append([]byte("first\n"), big...), "last\n"...), stdout.Bytes()), "stdout differs")
	require.Equal(t, "err\n", stderr.String())
	require.Equal(t, "dbg\n", debug.String())
	require.Equal(t, []map[string]string{{"type": "warning", "data": "careful\n"}}, msgs)
}

// TestInputAnswers: each 'I'/'L' request is answered in one write, with
// at most the size asked for, and nil callbacks answer end of input.
func TestInputAnswers(t *testing.T) {
	c, sent := scripted(t,
		request('I', 10),
		request('L', 4096),
		request('I', 3),
		frameBytes('r', []byte{0, 0, 0, 0}))
	var sizes []int
	code, err := c.RunCommand(context.Background(), []string{"x"}, &client.RunOptions{
		Input: func(size int) ([]byte, error) {
			sizes = append(sizes, size)
			return []byte(strings.Repeat("i", 20)), nil // more than asked
		},
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, []int{10, 3}, sizes)
	block := func(s string) []byte { return wire.AppendBlock(nil, []byte(s)) }
	require.Equal(t, [][]byte{
		wire.AppendBlock([]byte("runcommand\n"), []byte("x")),
		block(strings.Repeat("i", 10)),
		block(""), // no Line callback: end of input
		block("iii"),
	}, sent.writes)
}

// TestBrokenServerStreams: a frame cut short, a required channel the
// client does not know, and a failing callback each end the request with
// an error that says so.
func TestBrokenServerStreams(t *testing.T) {
	c, _ := scripted(t, frameBytes('o', make([]byte, 100))[:60])
	_, err := c.RunCommand(context.Background(), nil, &client.RunOptions{Stdout: io.Discard})
	require.ErrorIs(t, err, session.ErrTruncated)

	c, _ = scripted(t, frameBytes('X', []byte("?")))
	_, err = c.RunCommand(context.Background(), nil, nil)
	require.ErrorContains(t, err, `unexpected required channel 'X'`)

	c, _ = scripted(t, request('I', 5))
	boom := errors.New("boom")
	_, err = c.RunCommand(context.Background(), nil, &client.RunOptions{
		Input: func(int) ([]byte, error) { return nil, boom },
	})
	require.ErrorIs(t, err, boom)

	c, _ = scripted(t, frameBytes('o', []byte("x")))
	_, err = c.RunCommand(context.Background(), nil, nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "server gone before the result")
}

// FuzzRunCommandFrames: whatever a server sends after its hello, a
// request ends (with a result or an error) without a panic, and output
// callbacks never get more bytes than the frames declared.
func FuzzRunCommandFrames(f *testing.F) {
	f.Add(frameBytes('r', []byte{0, 0, 0, 1}))
	f.Add(append(frameBytes('o', []byte("hi")), frameBytes('r', []byte{0, 0, 0, 0})...))
	f.Add(append(request('I', 4), request('L', 2)...))
	f.Add(frameBytes('m', []byte{0xa1, 0x41, 0x41, 0x41, 0x41}))
	f.Add([]byte{'o', 0xff, 0xff, 0xff, 0xff, 'x'})
	f.Fuzz(func(t *testing.T, server []byte) {
		c, err := client.New(bytes.NewReader(append(append([]byte(nil), helloFrame...), server...)), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = c.RunCommand(context.Background(), []string{"x"}, &client.RunOptions{
			Stdout:  &out,
			Stderr:  &out,
			Input:   func(n int) ([]byte, error) { return make([]byte, min(n, 3)), nil },
			Line:    func(n int) ([]byte, error) { return []byte("y\n"), nil },
			Message: func(map[string]string) {},
		})
		if out.Len() > len(server) {
			t.Fatalf("%d bytes of output from %d bytes of frames", out.Len(), len(server))
		}
	})
}
