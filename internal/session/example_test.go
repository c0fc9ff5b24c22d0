package session_test

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// A Session serves one connection: here the requests come from a buffer
// holding one runcommand, and the frames it writes are decoded back.
func ExampleSession() {
	var in bytes.Buffer
	in.WriteString("runcommand\n")
	in.Write(wire.AppendBlock(nil, []byte("greet\x00you")))

	var out bytes.Buffer
	s := &session.Session{
		Handler: protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
			fmt.Fprintf(req.Stdout, "%s, %s\n", req.Args[0], req.Args[1])
			return 3
		}),
		PID: 42, PGID: 42,
	}
	err := s.Serve(context.Background(), &in, &out)
	fmt.Println("serve:", err)
	for {
		ch, payload, _, err := wire.ReadFrame(&out, 0)
		if err == io.EOF {
			break
		}
		fmt.Printf("%c %q\n", ch, payload)
	}
	// Output:
	// serve: <nil>
	// o "capabilities: getencoding runcommand\nencoding: UTF-8\npid: 42\npgid: 42"
	// o "greet, you\n"
	// r "\x00\x00\x00\x03"
}
