package chgclient_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind. The
// waiter of a server Run started is not one: it runs as long as that
// server, which outlives the client by design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/cmdsrv/cmdsrv/internal/chgclient.startServer.func1"))
}
