package unixfork

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/session"
)

// FuzzReadStatusAnswer: whatever a server sends after a status request,
// the client returns a status or an error, never panics, and a status
// came from an 'r' frame.
func FuzzReadStatusAnswer(f *testing.F) {
	frame := func(ch byte, p []byte) []byte {
		var b bytes.Buffer
		_ = session.NewFrameWriter(&b).WriteFrame(ch, p)
		return b.Bytes()
	}
	good, _ := json.Marshal(&Status{Idle: 2, Busy: 1, ClientsServed: 7, Uptime: 1.5})
	f.Add(frame('r', good))
	f.Add(append(frame('d', []byte("debug")), frame('r', good)...))
	f.Add(frame('e', []byte("abort: the master did not answer\n")))
	f.Add(frame('r', []byte("{")))
	f.Add(frame('I', nil))
	f.Add([]byte("r\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := readStatusAnswer(bytes.NewReader(b))
		if err == nil && st == nil {
			t.Fatal("no status and no error")
		}
	})
}

// FuzzDecodeMsg: control messages decode or fail cleanly.
func FuzzDecodeMsg(f *testing.F) {
	for _, m := range []controlMsg{
		{Type: msgReady, PID: 1, PGID: 1},
		{Type: msgDone, Status: 255, Recycle: "rss"},
		{Type: msgIdle, IdleMS: -1},
		{Type: msgEvicted},
		{Type: msgStatus, Pool: &Status{Idle: 1}},
	} {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMsg(b)
		if err == nil {
			if _, err := json.Marshal(m); err != nil {
				t.Fatalf("decoded message does not encode: %v", err)
			}
		}
	})
}
