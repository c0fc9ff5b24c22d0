package session

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// session's disconnect watcher, a command's reader, a pager's copier.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
