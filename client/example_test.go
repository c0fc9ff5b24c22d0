package client_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/pipe"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// A client drives any command server; here a pipe server runs in the same
// process over two in-memory pipes.
func Example() {
	upper := protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		fmt.Fprintln(req.Stdout, strings.ToUpper(strings.Join(req.Args, " ")))
		return len(req.Args)
	})
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	srv := &pipe.Server{Handler: upper, Stderr: os.Stderr}
	go func() {
		_ = srv.Serve(context.Background(), toServer, fromServer)
		fromServer.Close()
	}()

	c, err := client.New(toClient, fromClient)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("capabilities:", c.Hello.Capabilities)
	var out strings.Builder
	code, err := c.RunCommand(context.Background(), []string{"hello", "world"}, &client.RunOptions{Stdout: &out})
	fmt.Printf("%q exit %d %v\n", out.String(), code, err)
	c.Close()
	// Output:
	// capabilities: [getencoding runcommand]
	// "HELLO WORLD\n" exit 2 <nil>
}
