package session

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// FuzzParseHello: any payload parses or fails cleanly, and a hello that
// parses survives a Marshal/ParseHello round trip.
func FuzzParseHello(f *testing.F) {
	f.Add([]byte("capabilities: getencoding runcommand\nencoding: UTF-8\npid: 3135\npgid: 3131"))
	f.Add([]byte("capabilities: a b\nmessage-encoding: cbor\npid: x"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := wire.ParseHello(p)
		if err != nil {
			return
		}
		for _, c := range h.Capabilities {
			if c == "" || strings.ContainsAny(c, " \n") {
				return // not representable in a hello line
			}
		}
		if strings.ContainsAny(h.Encoding+h.MessageEncoding, "\n") || strings.Contains(h.Encoding, ": ") {
			return
		}
		again, err := wire.ParseHello(h.Marshal())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", h.Marshal(), err)
		}
		if again.PID != h.PID || again.PGID != h.PGID || len(again.Capabilities) != len(h.Capabilities) {
			t.Fatalf("round trip changed %+v into %+v", h, again)
		}
	})
}

// FuzzParseGlobalOptions: NUL-joined argument lists (a runcommand block)
// never panic, and what is consumed plus what remains never grows.
func FuzzParseGlobalOptions(f *testing.F) {
	f.Add([]byte("--config\x00a.b=c\x00--cwd=/tmp\x00echo\x00hi"))
	f.Add([]byte("-R\x00"))
	f.Add([]byte("--pager\x00maybe"))
	f.Add([]byte("--no-profile\x00--\x00--no-profile"))
	f.Fuzz(func(t *testing.T, block []byte) {
		args := strings.Split(string(block), "\x00")
		g, rest, err := ParseGlobalOptions(args)
		if err != nil {
			return
		}
		if len(rest) > len(args) {
			t.Fatalf("rest %q longer than args %q", rest, args)
		}
		var c protocol.Config
		_ = c.Apply(g.Config)
		if !bytes.Contains(block, []byte(strings.Join(rest, "\x00"))) {
			t.Fatalf("rest %q is not a tail of %q", rest, block)
		}
	})
}
