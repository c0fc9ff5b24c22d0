package cobrasrv_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cmdsrv/cmdsrv/cobrasrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// A cobra tree served by cmdsrv: NewRoot builds a fresh tree per request.
func ExampleHandler() {
	h := &cobrasrv.Handler{NewRoot: func() *cobra.Command {
		root := &cobra.Command{Use: "tool"}
		root.AddCommand(&cobra.Command{
			Use: "where",
			Run: func(cmd *cobra.Command, args []string) {
				fmt.Fprintln(cmd.OutOrStdout(), "in", cobrasrv.Request(cmd.Context()).Dir)
			},
		})
		return root
	}}
	req := &protocol.Request{Args: []string{"where"}, Dir: "/srv/project", Config: &protocol.Config{},
		Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr}
	fmt.Println("exit", h.ServeCommand(context.Background(), req))
	// Output:
	// in /srv/project
	// exit 0
}
