package cobrasrv_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/cobrasrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

func newRoot() *cobra.Command {
	var shout bool // declared per tree: never shared between requests
	root := &cobra.Command{Use: "greet", SilenceUsage: true}
	hello := &cobra.Command{
		Use:  "hello NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg := "hello " + args[0]
			if shout {
				msg = strings.ToUpper(msg)
			}
			req := cobrasrv.Request(cmd.Context())
			fmt.Fprintf(cmd.OutOrStdout(), "%s from %s\n", msg, req.Dir)
			return nil
		},
	}
	hello.Flags().BoolVar(&shout, "shout", false, "shout")
	fail := &cobra.Command{
		Use:  "fail CODE",
		RunE: func(cmd *cobra.Command, args []string) error { return &cobrasrv.ExitError{Code: 3} },
	}
	root.AddCommand(hello, fail)
	return root
}

func run(t *testing.T, h protocol.Handler, args ...string) (int, string, string) {
	var out, errb strings.Builder
	req := &protocol.Request{Args: args, Dir: "/some/dir", Config: &protocol.Config{}, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	return h.ServeCommand(context.Background(), req), out.String(), errb.String()
}

func TestFlagsDoNotLeak(t *testing.T) {
	h := &cobrasrv.Handler{NewRoot: newRoot}
	code, out, _ := run(t, h, "hello", "--shout", "bob")
	require.Equal(t, 0, code)
	require.Equal(t, "HELLO BOB from /some/dir\n", out)
	code, out, _ = run(t, h, "hello", "bob")
	require.Equal(t, 0, code)
	require.Equal(t, "hello bob from /some/dir\n", out)
}

func TestExitCodes(t *testing.T) {
	h := &cobrasrv.Handler{NewRoot: newRoot}
	code, _, _ := run(t, h, "fail", "x")
	require.Equal(t, 3, code)
	code, _, stderr := run(t, h, "nosuch")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "unknown command")
}
