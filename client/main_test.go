package client_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestMain runs the example's application when re-executed, and otherwise
// the tests, failing the package when one leaves a goroutine behind (a
// pipe server's process waiter, say).
func TestMain(m *testing.M) {
	// Example starts this test binary as `serve --cmdserver pipe`: the
	// arguments say the role, not the environment, which every process
	// the tests start would inherit (the fuzzing engine's workers too).
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		p := cmdsrv.Program{Name: "upper", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
			return protocol.HandlerFunc(func(_ context.Context, req *protocol.Request) int {
				fmt.Fprintln(req.Stdout, strings.ToUpper(strings.Join(req.Args, " ")))
				return len(req.Args)
			}), nil
		}}
		os.Exit(p.Main(os.Args))
	}
	goleak.VerifyTestMain(m)
}
