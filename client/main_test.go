package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind (a
// pipe server's process waiter, say).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
