package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("o\x00\x00\x00\x03abc"))
	f.Add([]byte("I\x00\x00\x10\x00"))
	f.Add([]byte("L\xff\xff\xff\xff"))
	f.Add([]byte("r\x00\x00\x00\x04\x00\x00\x00\x01"))
	f.Add([]byte("o\xff\xff\xff\xffshort"))
	f.Add([]byte("e\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		// The same bytes through the smallest bufio.Reader, whose
		// headers are read from its buffer: same frames, same errors.
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for i := 0; i < 100; i++ {
			before := r.Len()
			ch, payload, size, err := wire.ReadFrame(r, 1<<16)
			bch, bpayload, bsize, berr := wire.ReadFrame(br, 1<<16)
			if bch != ch || !bytes.Equal(bpayload, payload) || bsize != size || fmt.Sprint(berr) != fmt.Sprint(err) {
				t.Fatalf("through bufio: %q %q %d %v, direct: %q %q %d %v", bch, bpayload, bsize, berr, ch, payload, size, err)
			}
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBlockTooLarge) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if wire.IsInputChannel(ch) {
				if payload != nil || before-r.Len() != headerSize {
					t.Fatalf("input request %q consumed %d bytes, payload %q", ch, before-r.Len(), payload)
				}
				continue
			}
			if int(size) != len(payload) || before-r.Len() != headerSize+len(payload) {
				t.Fatalf("frame %q: size %d, payload %d, consumed %d", ch, size, len(payload), before-r.Len())
			}
			// What was read writes back to the same bytes.
			var out bytes.Buffer
			if err := NewFrameWriter(&out).WriteFrame(ch, payload); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in[len(in)-before:len(in)-r.Len()]) {
				t.Fatalf("frame does not round-trip")
			}
		}
	})
}

func FuzzReadBlock(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00"), 0)
	f.Add([]byte("\x00\x00\x00\x03abc"), 3)
	f.Add([]byte("\x00\x00\x00\x03ab"), 0)
	f.Add([]byte("\xff\xff\xff\xffabc"), 1<<30)
	f.Add([]byte("\x00\x01"), 0)
	f.Add([]byte("\x00\x01\x00\x00"+strings.Repeat("z", 100)), 0)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if limit > 1<<30 {
			limit = 1 << 30
		}
		got, err := wire.ReadBlock(bytes.NewReader(in), limit)
		bgot, berr := wire.ReadBlock(bufio.NewReaderSize(bytes.NewReader(in), 16), limit)
		if !bytes.Equal(bgot, got) || fmt.Sprint(berr) != fmt.Sprint(err) {
			t.Fatalf("through bufio: %q %v, direct: %q %v", bgot, berr, got, err)
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBlockTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if got != nil {
				t.Fatal("data with an error")
			}
			return
		}
		if !bytes.Equal(wire.AppendBlock(nil, got), in[:4+len(got)]) {
			t.Fatal("block does not round-trip")
		}
		eff := limit
		if eff <= 0 {
			eff = DefaultMaxBlock
		}
		if len(got) > eff {
			t.Fatalf("block of %d bytes over the limit %d", len(got), eff)
		}
	})
}

// fuzzHandler is a trivial Handler that still touches the streams: it
// echoes its arguments, reads stdin for "cat", prompts for "prompt".
var fuzzHandler = protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
	if len(req.Args) == 0 {
		return 0
	}
	switch req.Args[0] {
	case "cat":
		_, _ = io.Copy(req.Stdout, req.Stdin)
	case "prompt":
		_, _ = req.UI.Prompt("?", "d")
	case "panic":
		panic("fuzz")
	case "msg":
		req.UI.Warn("w")
	}
	_, _ = io.WriteString(req.Stdout, strings.Join(req.Args, " "))
	return len(req.Args)
})

// FuzzSessionRequests feeds arbitrary bytes to a Session: it must never
// panic, and must end soon once the input ends.
func FuzzSessionRequests(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("getencoding\n"))
	f.Add(runcmd("echo", "hi"))
	f.Add(cat(runcmd("cat"), wire.AppendBlock(nil, []byte("data")), wire.AppendBlock(nil, nil)))
	f.Add(cat(runcmd("--config", "ui.interactive=1", "prompt"), wire.AppendBlock(nil, []byte("x\n"))))
	f.Add(runcmd("--config", "ui.message-output=channel", "msg"))
	f.Add(runcmd("--cwd", "/", "-R", "..", "--config=a.b=c", "--pager", "on", "--traceback", "panic"))
	f.Add(runcmd("--config"))
	f.Add([]byte("runcommand\n\xff\xff\xff\xff"))
	f.Add([]byte("runcommand\n\x00\x00"))
	f.Add([]byte("runcomm"))
	f.Add([]byte("bogus\n"))
	f.Add([]byte("attachio\n"))
	f.Add([]byte(strings.Repeat("x", 300) + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var stderr bytes.Buffer
		s := &Session{Handler: fuzzHandler, Stderr: &stderr, Env: []string{"A=b"}, MaxBlock: 1 << 20, Options: protocol.SessionOptions{Dir: "/", GlobalOptions: true}}
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background(), bytes.NewReader(in), io.Discard) }()
		select {
		case err := <-done:
			status := ServeStatus(err)
			if status != 0 && status != 1 && status != 255 {
				t.Fatalf("status %d", status)
			}
			if status != 0 && stderr.Len() == 0 {
				t.Fatalf("session failed (%v) without a word on stderr", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("session still running 5 s after its input ended")
		}
	})
}
