package session

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// BenchmarkRunCommandInput serves runcommand requests whose command reads
// its stdin over the channels: "cat" copies it (an 'I' request through
// WriteTo), "prompt" asks one line ('L'). Each iteration is one request of
// each kind on the same session, so a per-request allocation shows in
// allocs/op.
func BenchmarkRunCommandInput(b *testing.B) {
	var one bytes.Buffer
	one.Write(runcmd("cat"))
	one.Write(wire.AppendBlock(nil, []byte("some input\n")))
	one.Write(wire.AppendBlock(nil, nil))
	one.Write(runcmd("--config", "ui.interactive=true", "prompt"))
	one.Write(wire.AppendBlock(nil, []byte("bob\n")))
	input := bytes.Repeat(one.Bytes(), b.N)
	s := &Session{Handler: &recorder{}, Options: protocol.SessionOptions{Dir: b.TempDir(), GlobalOptions: true}}
	b.ReportAllocs()
	b.ResetTimer()
	if err := s.Serve(context.Background(), bytes.NewReader(input), io.Discard); err != nil {
		b.Fatal(err)
	}
	if got := s.CommandsDone(); got != 2*b.N {
		b.Fatalf("%d commands done, want %d", got, 2*b.N)
	}
}
