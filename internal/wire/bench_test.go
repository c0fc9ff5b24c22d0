package wire

import (
	"bufio"
	"testing"
)

// loopReader serves the same bytes again and again.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkReadFrameHeader reads what a client reads most: frame headers
// (an 'I' request here, which has no payload) from a buffered connection.
func BenchmarkReadFrameHeader(b *testing.B) {
	r := bufio.NewReader(&loopReader{data: AppendHeader(nil, ChannelInput, 4096)})
	b.ReportAllocs()
	for b.Loop() {
		if ch, n, err := ReadFrameHeader(r); err != nil || ch != ChannelInput || n != 4096 {
			b.Fatal(ch, n, err)
		}
	}
}

// BenchmarkReadBlockLength reads what a session reads for each input
// request: the length of the client's answer (an empty one here).
func BenchmarkReadBlockLength(b *testing.B) {
	r := bufio.NewReader(&loopReader{data: AppendBlock(nil, nil)})
	b.ReportAllocs()
	for b.Loop() {
		if n, err := ReadBlockLength(r); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}
