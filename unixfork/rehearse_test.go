package unixfork

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestRehearseNeverRunsTheHandler: the rehearsal a pool worker serves to
// itself ends cleanly and runs no command of the application.
func TestRehearseNeverRunsTheHandler(t *testing.T) {
	var calls atomic.Int32
	h := protocol.HandlerFunc(func(context.Context, *protocol.Request) int {
		calls.Add(1)
		return 0
	})
	require.NoError(t, rehearse(context.Background(), h, &protocol.Config{}))
	require.Zero(t, calls.Load())

	// A session that cannot start (bad message encoding config) is
	// reported, not hidden.
	bad := &protocol.Config{}
	require.NoError(t, bad.Apply([]string{"ui.message-output=channel", "cmdserver.message-encodings=nosuch"}))
	require.Error(t, rehearse(context.Background(), h, bad))
}
