// Command greet is a small cobra CLI made chg-fast with cmdsrv's cobra
// adapter: the command tree is built fresh for every request, and the same
// binary runs commands directly or serves them (pipe, unix, chg).
//
//	greet hello --shout world
//	CHGHG=$(which greet) chg hello world
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/cobrasrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "greet", Short: "greet people, warm", SilenceUsage: true}

	var shout bool
	hello := &cobra.Command{
		Use:   "hello NAME...",
		Short: "say hello",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg := "hello " + strings.Join(args, " ")
			if shout {
				msg = strings.ToUpper(msg)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	hello.Flags().BoolVar(&shout, "shout", false, "say it loudly")

	where := &cobra.Command{
		Use:   "where",
		Short: "print the caller's directory and $USER",
		RunE: func(cmd *cobra.Command, args []string) error {
			req := cobrasrv.Request(cmd.Context())
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", req.Dir, req.Getenv("USER"))
			return nil
		},
	}

	ask := &cobra.Command{
		Use:   "ask QUESTION",
		Short: "ask the user through the UI",
		RunE: func(cmd *cobra.Command, args []string) error {
			req := cobrasrv.Request(cmd.Context())
			ans, err := req.UI.Prompt(strings.Join(args, " "), "nobody")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "answer: %s\n", ans)
			return nil
		},
	}

	fail := &cobra.Command{
		Use:   "fail CODE",
		Short: "exit with CODE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var code int
			if _, err := fmt.Sscan(args[0], &code); err != nil {
				return err
			}
			return &cobrasrv.ExitError{Code: code, Err: fmt.Errorf("failing with %d", code)}
		},
	}
	root.AddCommand(hello, where, ask, fail)
	return root
}

func main() {
	h := &cobrasrv.Handler{NewRoot: newRoot, AllowReuse: true}
	p := cmdsrv.Program{
		Name: "greet",
		NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
			return h, nil
		},
	}
	os.Exit(p.Main(os.Args))
}
