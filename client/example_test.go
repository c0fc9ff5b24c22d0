package client_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cmdsrv/cmdsrv/client"
)

// A client starts an application's pipe server (`APP serve --cmdserver
// pipe`) and runs commands in it, one process for all of them. The
// application here is this test binary, a cmdsrv.Program whose Handler
// upper-cases its arguments and exits with their count (see TestMain).
func Example() {
	app := os.Args[0]
	c, err := client.StartPipe(context.Background(), app)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("capabilities:", c.Hello.Capabilities)
	for _, args := range [][]string{{"hello", "world"}, {"again"}} {
		var out strings.Builder
		code, err := c.RunCommand(context.Background(), args, &client.RunOptions{Stdout: &out})
		fmt.Printf("%q exit %d %v\n", out.String(), code, err)
	}
	// Output:
	// capabilities: [getencoding runcommand]
	// "HELLO WORLD\n" exit 2 <nil>
	// "AGAIN\n" exit 1 <nil>
}
