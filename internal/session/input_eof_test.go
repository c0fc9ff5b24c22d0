package session_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// A client that goes away while the command waits for input cut its
// request off: the session ends with status 1, as for any request cut
// off by end of input, and writes no result.
func TestEOFWhileCommandReadsInput(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("runcommand\n")
	in.Write(wire.AppendBlock(nil, []byte("cat")))
	var readErr error
	var out bytes.Buffer
	s := &session.Session{Handler: protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		_, readErr = io.ReadAll(req.Stdin)
		return 0
	})}
	err := s.Serve(context.Background(), &in, &out)
	require.Error(t, readErr)
	require.ErrorIs(t, err, session.ErrTruncated)
	require.Equal(t, 1, session.ServeStatus(err))
	var chans []byte
	for {
		ch, _, _, err := wire.ReadFrame(&out, 0)
		if err != nil {
			break
		}
		chans = append(chans, ch)
	}
	require.Equal(t, "oI", string(chans), "hello, the input request, and no result")
}
