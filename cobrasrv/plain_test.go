package cobrasrv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/cobrasrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// plainEnv makes the test binary the CLI of plainTree: "plain" runs it as
// cobra alone would (Execute, exit 1 on error), "served" through
// cmdsrv.Program's direct run.
const plainEnv = "CMDSRV_TEST_COBRA_MODE"

func init() {
	switch os.Getenv(plainEnv) {
	case "plain":
		if err := plainTree(nil).Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "served":
		h := &cobrasrv.Handler{NewRootFor: plainTree}
		p := cmdsrv.Program{Name: "tool", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) { return h, nil }}
		os.Exit(p.Main(os.Args))
	}
}

// plainTree is a tree with cobra's defaults: usage printed on errors, the
// Print functions, help.
func plainTree(req *protocol.Request) *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "a tool"}
	var shout bool
	hello := &cobra.Command{
		Use:  "hello NAME",
		Args: cobra.ExactArgs(1),
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "hello", args[0], shout)
		},
	}
	hello.Flags().BoolVar(&shout, "shout", false, "shout")
	say := &cobra.Command{
		Use: "say",
		Run: func(cmd *cobra.Command, args []string) {
			cmd.Println("said with Println") // OutOrStderr
			fmt.Fprintln(cmd.ErrOrStderr(), "to ErrOrStderr")
			fmt.Fprintln(cmd.OutOrStdout(), "to OutOrStdout")
		},
	}
	fail := &cobra.Command{
		Use:  "fail",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("it failed") },
	}
	root.AddCommand(hello, say, fail)
	return root
}

func runTool(t *testing.T, mode string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), plainEnv+"="+mode, cmdsrv.ClientEnv+"=off", "GORACE=atexit_sleep_ms=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// runPiped runs args through a pipe server of the served tree.
func runPiped(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "serve", "--cmdserver", "pipe")
	cmd.Env = append(os.Environ(), plainEnv+"=served", "GORACE=atexit_sleep_ms=0")
	c, err := client.StartCommand(cmd)
	require.NoError(t, err)
	defer c.Close()
	var out, errb strings.Builder
	code, err = c.RunCommand(context.Background(), args, &client.RunOptions{Stdout: &out, Stderr: &errb})
	require.NoError(t, err)
	return code, out.String(), errb.String()
}

// TestSameStreamsAsPlainCobra: served by cmdsrv (a direct run), a tree
// writes exactly what plain cobra writes, to the same stream: usage after
// an unknown flag on stderr, the Print functions on stderr, help on
// stdout; in a direct run and through a pipe server.
func TestSameStreamsAsPlainCobra(t *testing.T) {
	for _, args := range [][]string{
		{"hello", "--nope"},
		{"hello"},
		{"nosuch"},
		{"hello", "--shout", "bob"},
		{"say"},
		{"fail"},
		{"--help"},
		{"help", "hello"},
	} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			code, out, errs := runTool(t, "plain", args...)
			scode, sout, serrs := runTool(t, "served", args...)
			require.Equal(t, out, sout, "stdout")
			require.Equal(t, errs, serrs, "stderr")
			require.Equal(t, code, scode, "exit status")
			// And through a pipe server of the same binary, on 'o' and 'e'.
			pcode, pout, perrs := runPiped(t, args...)
			require.Equal(t, out, pout, "stdout through the pipe server")
			require.Equal(t, errs, perrs, "stderr through the pipe server")
			require.Equal(t, code, pcode, "exit status through the pipe server")
		})
	}
	// The reproduction: an unknown flag is all on stderr.
	_, out, errs := runTool(t, "served", "hello", "--nope")
	require.Empty(t, out)
	require.Contains(t, errs, "Error: unknown flag: --nope\nUsage:\n")
}
