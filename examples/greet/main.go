// Command greet is a small cobra CLI made chg-fast with cmdsrv's cobra
// adapter: the command tree is built fresh for every request, and the same
// binary runs commands directly or serves them (pipe, unix, chg).
//
//	greet hello --shout world
//	greet --config greet.conf hello world
//	CHGHG=$(which greet) chg hello world
//
// Like most Go CLIs it has its own persistent --config FILE flag and its
// own `serve` command: cmdsrv leaves both alone (Program.GlobalOptions is
// off). Only `greet serve ... --cmdserver MODE ...` is cmdsrv's.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/cobrasrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "greet", Short: "greet people, warm", SilenceUsage: true}
	var configFile string
	root.PersistentFlags().StringVar(&configFile, "config", "", "read the greeting from FILE (a line 'greeting: WORD')")
	// greeting reads the configuration file the way an application's own
	// --config would: relative to the caller's directory.
	greeting := func(req *protocol.Request) (string, error) {
		if configFile == "" {
			return "hello", nil
		}
		path := configFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(req.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading config: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "greeting:"); ok {
				return strings.TrimSpace(v), nil
			}
		}
		return "hello", nil
	}

	var shout bool
	hello := &cobra.Command{
		Use:   "hello NAME...",
		Short: "say hello",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			word, err := greeting(cobrasrv.Request(cmd.Context()))
			if err != nil {
				return err
			}
			msg := word + " " + strings.Join(args, " ")
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
	var port int
	serve := &cobra.Command{
		Use:   "serve",
		Short: "greet's own server (a stand-in: it says what it would serve)",
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "greet's own serve on port %d (config %q)\n", port, configFile)
			return nil
		},
	}
	serve.Flags().IntVar(&port, "port", 8080, "port to listen on")
	root.AddCommand(hello, where, ask, fail, serve)
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
