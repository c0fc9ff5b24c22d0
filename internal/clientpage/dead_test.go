//go:build unix

package clientpage

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// TestAnswerRelayChunk kills the relay (in effect) at each point of one
// chunk's trip out of the stdout pipe and checks that the survivor's
// answer forwards the command's output once, whole and in order.
func TestAnswerRelayChunk(t *testing.T) {
	output := []byte("first chunk of the command's output\n")
	later := []byte("written after the relay's read\n")
	for _, tc := range []struct {
		name string
		// relay does what the relay did before the death, given its
		// buffer, hold and the pipe's read end.
		relay func(t *testing.T, buf []byte, hold func(int, int), r int)
	}{
		{"before the read", func(t *testing.T, buf []byte, hold func(int, int), r int) {
			clear(buf[:len(output)])
			hold(0, -len(output))
		}},
		{"inside the read", func(t *testing.T, buf []byte, hold func(int, int), r int) {
			clear(buf[:len(output)])
			hold(0, -len(output))
			n, err := unix.Read(r, buf[:len(output)])
			require.NoError(t, err)
			require.Equal(t, len(output), n)
		}},
		{"after the read", func(t *testing.T, buf []byte, hold func(int, int), r int) {
			clear(buf[:len(output)])
			hold(0, -len(output))
			n, err := unix.Read(r, buf[:len(output)])
			require.NoError(t, err)
			hold(0, n)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := New()
			require.NoError(t, err)
			t.Cleanup(func() { pg.File().Close() })
			var stdout, stderr [2]int
			require.NoError(t, unix.Pipe(stdout[:]))
			require.NoError(t, unix.Pipe(stderr[:]))
			t.Cleanup(func() {
				for _, fd := range append(stdout[:], stderr[:]...) {
					unix.Close(fd)
				}
			})
			_, err = unix.Write(stdout[1], output)
			require.NoError(t, err)
			buf, hold := pg.RelayBuffer()
			tc.relay(t, buf, hold, stdout[0])
			_, err = unix.Write(stdout[1], later)
			require.NoError(t, err)

			dead, err := ReadDead(int(pg.File().Fd()))
			require.NoError(t, err)
			var sent bytes.Buffer
			err = dead.Answer([]int{stdout[0], stderr[0]}, 3, func(b []byte) error {
				sent.Write(b)
				return nil
			})
			require.NoError(t, err)

			var got []byte
			status := -1
			stream := sent.Bytes()
			for len(stream) > 0 {
				require.GreaterOrEqual(t, len(stream), 5)
				ch, n := stream[0], int(binary.BigEndian.Uint32(stream[1:5]))
				payload := stream[5 : 5+n]
				stream = stream[5+n:]
				switch ch {
				case wire.ChannelOutput:
					got = append(got, payload...)
				case wire.ChannelResult:
					status = int(binary.BigEndian.Uint32(payload))
				default:
					t.Fatalf("unexpected channel %q", ch)
				}
			}
			require.Equal(t, string(output)+string(later), string(got))
			require.Equal(t, 3, status)
		})
	}
}

// TestInCommandAfterTheResult: a process that died as its command's 'r'
// frame went out, before it marked the command over, owes its client
// nothing (a second 'r' would be read as the next command's); one that
// died with another frame out, or the 'r' frame partly sent, still
// owes the result.
func TestInCommandAfterTheResult(t *testing.T) {
	result := append(wire.AppendHeader(nil, wire.ChannelResult, 4), 0, 0, 0, 0)
	output := append(wire.AppendHeader(nil, wire.ChannelOutput, 4), 'a', 'b', 'c', '\n')
	for _, tc := range []struct {
		name    string
		frame   []byte
		sent    int
		writing bool
		owed    bool
	}{
		{"r sent", result, len(result), false, false},
		{"r in its write", result, 0, true, false},
		{"r partly sent", result, 3, false, true},
		{"o sent", output, len(output), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := New()
			require.NoError(t, err)
			t.Cleanup(func() { pg.File().Close() })
			pg.StartCommand()
			copy(pg.mem[pageFrame:], tc.frame)
			pg.set(pageCopied, 1)
			pg.set(pageTotal, uint32(len(tc.frame)))
			pg.set(pageSent, uint32(tc.sent))
			if tc.writing {
				pg.set(pageWriting, 1)
			}
			dead, err := ReadDead(int(pg.File().Fd()))
			require.NoError(t, err)
			require.Equal(t, tc.owed, dead.InCommand())
		})
	}
}
