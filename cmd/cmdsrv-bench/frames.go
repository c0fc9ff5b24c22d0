package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The floors of groups 4 and 9 play a server that does nothing, so they
// write the protocol's frames themselves (PROTOCOL.md): a channel byte and a
// big-endian length, then the payload, except on the input channels where
// the length is what the server asks for and nothing follows. The bench
// command is a module of its own and uses only the public packages of
// cmdsrv, whose frame codec is internal.

// writeFrame writes one frame with its payload on channel ch.
func writeFrame(w io.Writer, ch byte, payload []byte) error {
	b := make([]byte, 5+len(payload))
	b[0] = ch
	binary.BigEndian.PutUint32(b[1:5], uint32(len(payload)))
	copy(b[5:], payload)
	_, err := w.Write(b)
	return err
}

// askInput writes an input request: channel ch ('I' or 'L') asking for
// size bytes.
func askInput(w io.Writer, ch byte, size uint32) error {
	var b [5]byte
	b[0] = ch
	binary.BigEndian.PutUint32(b[1:], size)
	_, err := w.Write(b[:])
	return err
}

// writeResult writes the 'r' frame of a command's result.
func writeResult(w io.Writer, v int32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return writeFrame(w, 'r', b[:])
}

// readFrame reads one output frame (not an input request) and its payload.
func readFrame(r io.Reader) (ch byte, payload []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes on %q: too large for a hello", n, h[0])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return h[0], payload, nil
}

// skipBlock reads and drops a request's argument block: a big-endian
// length, then that many bytes.
func skipBlock(r io.Reader) error {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	_, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(h[:])))
	return err
}

// helloPayload is the hello a server sends on 'o'.
func helloPayload(caps []string, pid, pgid int) []byte {
	caps = append([]string(nil), caps...)
	sort.Strings(caps)
	return fmt.Appendf(nil, "capabilities: %s\nencoding: UTF-8\npid: %d\npgid: %d", strings.Join(caps, " "), pid, pgid)
}
