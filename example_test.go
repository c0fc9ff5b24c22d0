package cmdsrv_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// The main function of an application: a constructor of its Handler and
// one call. Without --cmdserver the command runs in-process, as here; the
// same binary serves `serve --cmdserver pipe|unix|chgunix`.
func ExampleProgram() {
	newHandler := func(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
		// Build expensive warm state here: it is built once per process.
		greeting := "hello"
		return protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
			fmt.Fprintf(req.Stdout, "%s %s\n", greeting, strings.Join(req.Args, " "))
			return 0
		}), nil
	}
	p := cmdsrv.Program{Name: "greeter", NewHandler: newHandler, Stdout: os.Stdout}
	code := p.Main([]string{"greeter", "world"})
	fmt.Println("exit", code)
	// Output:
	// hello world
	// exit 0
}
