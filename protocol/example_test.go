package protocol_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// A Handler takes everything from its Request: arguments, directory,
// environment, configuration and streams. Here it is called directly, as a
// test of an application would; cmdsrv.Program calls it for each command a
// client sends.
func ExampleHandlerFunc() {
	h := protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		if len(req.Args) < 2 {
			fmt.Fprintln(req.Stderr, "usage: greet NAME")
			return 1
		}
		times, err := req.Config.Int("greet.times", 1)
		if err != nil {
			fmt.Fprintln(req.Stderr, "abort:", err)
			return 255
		}
		for i := 0; i < times; i++ {
			fmt.Fprintf(req.Stdout, "hello, %s (from %s, in %s)\n", req.Args[1], req.Getenv("USER"), req.Path("sub"))
		}
		return 0
	})

	cfg := &protocol.Config{}
	cfg.Set("greet.times", "2")
	req := &protocol.Request{
		Args:   []string{"greet", "you"},
		Dir:    "/home/me",
		Env:    []string{"USER=me"},
		Config: cfg,
		Stdout: os.Stdout,
		Stderr: os.Stdout,
	}
	fmt.Println("status:", h.ServeCommand(context.Background(), req))
	// Output:
	// hello, you (from me, in /home/me/sub)
	// hello, you (from me, in /home/me/sub)
	// status: 0
}
