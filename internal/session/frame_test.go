package session

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// Sizes of internal/wire that the tests cross: a frame header, and the
// block size above which memory grows only as bytes arrive.
const (
	headerSize = 5
	eagerAlloc = 64 << 10
)

// be32 is a 4-byte big-endian length.
func be32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), eagerAlloc+10)
	tests := []struct {
		name    string
		in      []byte
		max     int
		ch      byte
		payload []byte
		size    uint32
		err     error // nil, io.EOF, ErrTruncated, ErrBlockTooLarge
	}{
		{name: "output", in: cat([]byte("o"), be32(3), []byte("abc")), ch: 'o', payload: []byte("abc"), size: 3},
		{name: "empty payload", in: cat([]byte("e"), be32(0)), ch: 'e', payload: []byte{}, size: 0},
		{name: "result", in: cat([]byte("r"), be32(4), be32(7)), ch: 'r', payload: be32(7), size: 4},
		{name: "input request has no payload", in: cat([]byte("I"), be32(4096), []byte("next")), ch: 'I', size: 4096},
		{name: "line request has no payload", in: cat([]byte("L"), be32(math.MaxUint32)), ch: 'L', size: math.MaxUint32},
		{name: "large payload grows lazily", in: cat([]byte("o"), be32(uint32(len(big))), big), ch: 'o', payload: big, size: uint32(len(big))},
		{name: "nothing", in: nil, err: io.EOF},
		{name: "partial header", in: []byte("o\x00\x00"), err: ErrTruncated},
		{name: "channel only", in: []byte("o"), err: ErrTruncated},
		{name: "short payload", in: cat([]byte("o"), be32(10), []byte("abc")), ch: 'o', size: 10, err: ErrTruncated},
		{name: "short large payload", in: cat([]byte("o"), be32(eagerAlloc+1), []byte("abc")), ch: 'o', size: eagerAlloc + 1, err: ErrTruncated},
		{name: "over the limit", in: cat([]byte("o"), be32(11), []byte("0123456789a")), max: 10, ch: 'o', size: 11, err: ErrBlockTooLarge},
		{name: "4 GiB claim refused", in: cat([]byte("o"), be32(math.MaxUint32)), ch: 'o', size: math.MaxUint32, err: ErrBlockTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, payload, size, err := wire.ReadFrame(bytes.NewReader(tt.in), tt.max)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if tt.err == io.EOF && err != io.EOF {
					t.Fatalf("clean end must be io.EOF itself, got %v", err)
				}
			} else if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if ch != tt.ch || size != tt.size || !bytes.Equal(payload, tt.payload) {
				t.Fatalf("got (%q, %d bytes, size %d), want (%q, %d bytes, size %d)", ch, len(payload), size, tt.ch, len(tt.payload), tt.size)
			}
			if wire.IsInputChannel(ch) && payload != nil {
				t.Fatalf("input request carries a payload")
			}
		})
	}
}

func TestReadBlock(t *testing.T) {
	big := bytes.Repeat([]byte{0, '\n', 0xff}, eagerAlloc)
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  []byte
		err   error
		rest  string // bytes left unread
	}{
		{name: "empty block", in: be32(0), want: []byte{}},
		{name: "block", in: cat(be32(3), []byte("a\x00b")), want: []byte("a\x00b")},
		{name: "leaves the next request", in: cat(be32(1), []byte("xgetencoding\n")), want: []byte("x"), rest: "getencoding\n"},
		{name: "large block", in: cat(be32(uint32(len(big))), big), want: big},
		{name: "exactly the limit", in: cat(be32(4), []byte("abcd")), limit: 4, want: []byte("abcd")},
		{name: "over the limit", in: cat(be32(5), []byte("abcde")), limit: 4, err: ErrBlockTooLarge},
		{name: "4 GiB claim over default limit", in: be32(math.MaxUint32), err: ErrBlockTooLarge},
		{name: "no length", in: nil, err: ErrTruncated},
		{name: "partial length", in: []byte{0, 0, 1}, err: ErrTruncated},
		{name: "shorter than declared", in: cat(be32(10), []byte("abc")), err: ErrTruncated},
		{name: "large, shorter than declared", in: cat(be32(eagerAlloc*4), []byte("abc")), err: ErrTruncated},
		{name: "declared but absent", in: be32(1), err: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.in)
			got, err := wire.ReadBlock(r, tt.limit)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes %q, want %d bytes", len(got), trim(got), len(tt.want))
			}
			if tt.err != nil && got != nil {
				t.Fatalf("error with data: %q", trim(got))
			}
			rest, _ := io.ReadAll(r)
			if tt.err == nil && string(rest) != tt.rest {
				t.Fatalf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// TestReadBlockHugeClaimCostsNothing: a block claiming 4 GiB, allowed by
// the limit, that ends after a few bytes allocates next to nothing.
func TestReadBlockHugeClaimCostsNothing(t *testing.T) {
	in := cat(be32(math.MaxUint32), []byte("only a few bytes"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 10
	for i := 0; i < runs; i++ {
		_, err := wire.ReadBlock(bytes.NewReader(in), math.MaxInt)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	if perRun > 64<<10 {
		t.Fatalf("a 4 GiB claim allocated %d bytes per read, want next to nothing", perRun)
	}
	allocs := testing.AllocsPerRun(runs, func() { _, _ = wire.ReadBlock(bytes.NewReader(in), math.MaxInt) })
	if allocs > 20 {
		t.Fatalf("%v allocations per read of a false 4 GiB claim", allocs)
	}
}

func TestAppendBlockRoundTrip(t *testing.T) {
	for _, data := range [][]byte{nil, {}, []byte("echo\x00hi"), bytes.Repeat([]byte{0}, 70000)} {
		b := wire.AppendBlock([]byte("prefix"), data)
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendBlock lost the prefix")
		}
		got, err := wire.ReadBlock(bytes.NewReader(b[len("prefix"):]), 0)
		if err != nil || !bytes.Equal(got, data) && len(data) != 0 {
			t.Fatalf("round trip of %d bytes: %v", len(data), err)
		}
		if len(got) != len(data) {
			t.Fatalf("round trip: %d bytes, want %d", len(got), len(data))
		}
	}
}

// writeRecorder records each Write call separately.
type writeRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestFrameWriterOneWritePerFrame(t *testing.T) {
	var rec writeRecorder
	fw := NewFrameWriter(&rec)
	if err := fw.WriteFrame('o', []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteHeader('I', 4096); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteResult(-1); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		cat([]byte("o"), be32(5), []byte("hello")),
		cat([]byte("I"), be32(4096)),
		cat([]byte("r"), be32(4), []byte{0xff, 0xff, 0xff, 0xff}),
	}
	if len(rec.writes) != len(want) {
		t.Fatalf("%d writes, want %d", len(rec.writes), len(want))
	}
	for i := range want {
		if !bytes.Equal(rec.writes[i], want[i]) {
			t.Errorf("write %d = %q, want %q", i, rec.writes[i], want[i])
		}
	}
}

func TestFrameWriterError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	fw := NewFrameWriter(w)
	if err := fw.WriteFrame('o', []byte("x")); err == nil || !strings.Contains(err.Error(), "writing 'o' frame") {
		t.Fatalf("write to a closed pipe: %v", err)
	}
	// A large frame goes out with writev: the same error, and the
	// process lives on (EPIPE, not a fatal SIGPIPE).
	if err := fw.WriteFrame('o', make([]byte, vectorMin)); err == nil || !strings.Contains(err.Error(), "writing 'o' frame") {
		t.Fatalf("large write to a closed pipe: %v", err)
	}
}

// TestFrameWriterConcurrent: frames written from many goroutines through
// a real pipe arrive whole, each payload made of its writer's byte only.
func TestFrameWriterConcurrent(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fw := NewFrameWriter(w)
	const writers, frames = 8, 50
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < frames; i++ {
				// Sizes above PIPE_BUF (4096) would interleave if a frame
				// took more than one Write.
				p := bytes.Repeat([]byte{byte('a' + g)}, 1000+(i*997)%20000)
				if err := fw.WriteFrame(byte('a'+g), p); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	go func() { wg.Wait(); w.Close() }()
	counts := map[byte]int{}
	for {
		ch, payload, _, err := wire.ReadFrame(r, 0)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %v frames: %v", counts, err)
		}
		if len(payload) == 0 || bytes.Count(payload, []byte{ch}) != len(payload) {
			t.Fatalf("frame on %q holds bytes of another writer", ch)
		}
		counts[ch]++
	}
	for g := 0; g < writers; g++ {
		if counts[byte('a'+g)] != frames {
			t.Fatalf("writer %c: %d frames, want %d", 'a'+g, counts[byte('a'+g)], frames)
		}
	}
}

func TestChannelWriterSplitsLargeWrites(t *testing.T) {
	var rec writeRecorder
	w := &channelWriter{fw: NewFrameWriter(&rec), ch: 'o'}
	data := bytes.Repeat([]byte("z"), 2*maxFramePayload+5)
	n, err := w.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(rec.writes) != 3 {
		t.Fatalf("%d frames, want 3", len(rec.writes))
	}
	var got []byte
	for _, f := range rec.writes {
		ch, payload, _, err := wire.ReadFrame(bytes.NewReader(f), 0)
		if err != nil || ch != 'o' || len(payload) > maxFramePayload {
			t.Fatalf("frame %q (%d bytes): %v", ch, len(payload), err)
		}
		got = append(got, payload...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("payloads do not add up to the write")
	}
}

// TestFrameWriterLargeFramesOnSocket: large frames go out with writev on
// the connection's descriptor; on a non-blocking socket whose reader is
// slow the writes are partial and wait for room, and every frame still
// arrives whole and in order.
func TestFrameWriterLargeFramesOnSocket(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil && runtime.GOOS == "windows" {
		t.Skipf("no unix sockets here (Wine 8.0 has none): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	rc, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	wc := <-accepted
	if wc == nil {
		t.FailNow()
	}
	sizes := []int{vectorMin, 3 << 20, 100, vectorMin - 1, 1 << 20}
	done := make(chan error, 1)
	go func() {
		fw := NewFrameWriter(wc)
		for i, n := range sizes {
			if err := fw.WriteFrame('o', bytes.Repeat([]byte{byte('a' + i)}, n)); err != nil {
				done <- err
				return
			}
		}
		done <- wc.Close()
	}()
	// Small reads: the 3 MiB frame cannot fit the socket buffer, so its
	// writev is partial and waits for room more than once.
	br := bufio.NewReaderSize(rc, 1000)
	for i, n := range sizes {
		ch, payload, _, err := wire.ReadFrame(br, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if ch != 'o' || len(payload) != n || bytes.Count(payload, []byte{byte('a' + i)}) != n {
			t.Fatalf("frame %d: %q frame of %d bytes, want 'o' of %d bytes of %q", i, ch, len(payload), n, rune('a'+i))
		}
	}
	if _, _, _, err := wire.ReadFrame(br, 0); err != io.EOF {
		t.Fatalf("after the frames: %v, want EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
