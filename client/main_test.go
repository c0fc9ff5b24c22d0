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

// exampleAppEnv marks the test binary re-executed as the example's
// application (Example starts it as a pipe server).
const exampleAppEnv = "CMDSRV_CLIENT_EXAMPLE_APP"

// TestMain runs the example's application when re-executed, and otherwise
// the tests, failing the package when one leaves a goroutine behind (a
// pipe server's process waiter, say).
func TestMain(m *testing.M) {
	if os.Getenv(exampleAppEnv) == "1" {
		p := cmdsrv.Program{Name: "upper", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
			return protocol.HandlerFunc(func(_ context.Context, req *protocol.Request) int {
				fmt.Fprintln(req.Stdout, strings.ToUpper(strings.Join(req.Args, " ")))
				return len(req.Args)
			}), nil
		}}
		os.Exit(p.Main(os.Args))
	}
	os.Setenv(exampleAppEnv, "1") // for the processes Example starts
	goleak.VerifyTestMain(m)
}
