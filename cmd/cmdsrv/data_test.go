//go:build unix

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// debugOutputBytes is what `debugoutput n` writes: 64 KiB chunks of
// "abc...z" repeated.
func debugOutputBytes(n int) []byte {
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	var b bytes.Buffer
	for b.Len() < n {
		b.Write(chunk[:min(len(chunk), n-b.Len())])
	}
	return b.Bytes()
}

// TestLargeDataBothWays: megabytes through 'o' (large frames go out with
// writev) and through 'I' (io.Copy of stdin asks in large requests), on
// the pipe and the unix service, arrive whole and in order, and the
// session goes on after them.
func TestLargeDataBothWays(t *testing.T) {
	const n = 5<<20 + 12345
	want := debugOutputBytes(n)
	unix := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	uc, err := client.Dial(context.Background(), unix.addr)
	require.NoError(t, err)
	defer uc.Close()
	for name, c := range map[string]*client.Client{"pipe": startServer(t).Client, "unix": uc} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := c.RunCommand(context.Background(), []string{"debugoutput", strconv.Itoa(n)}, &client.RunOptions{Stdout: &out})
			require.NoError(t, err)
			require.Equal(t, 0, code)
			require.True(t, bytes.Equal(want, out.Bytes()), "'o' carried %d bytes, not the %d written", out.Len(), n)

			in := want
			var sizes []int
			out.Reset()
			code, err = c.RunCommand(context.Background(), []string{"cat"}, &client.RunOptions{
				Stdout: &out,
				Input: func(size int) ([]byte, error) {
					sizes = append(sizes, size)
					k := min(size, len(in))
					p := in[:k]
					in = in[k:]
					return p, nil
				},
			})
			require.NoError(t, err)
			require.Equal(t, 0, code)
			require.True(t, bytes.Equal(want, out.Bytes()), "cat gave back %d bytes of %d", out.Len(), n)
			require.Equal(t, 256<<10, sizes[0], "cat's io.Copy asks for 256 KiB at a time")

			code, echo, _ := testutil.Run(t, c, "echo", "after")
			require.Equal(t, 0, code)
			require.Equal(t, "after\n", echo)
		})
	}
}
