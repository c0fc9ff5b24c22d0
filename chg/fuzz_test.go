package chg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// The chg requests' decoders, fuzzed in-process: they only decode, so a
// block can never change the fuzzing process's own directory,
// environment or umask. The whole sessions are fuzzed in protocol.

// FuzzSetenvRequest: a block decodes to NAME=VALUE entries that join back
// into the same block, or is refused.
func FuzzSetenvRequest(f *testing.F) {
	f.Add([]byte("A=1\x00B=two\x00PATH=/bin:/usr/bin"))
	f.Add([]byte("A=1\x00JUSTANAME"))
	f.Add([]byte("=x"))
	f.Add([]byte("A=\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := session.ParseSetenv(b)
		if err != nil {
			return
		}
		for _, e := range env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				t.Fatalf("accepted %q from %q", e, b)
			}
		}
		if got := strings.Join(env, "\x00"); got != string(b) {
			t.Fatalf("%q decoded to %q", b, env)
		}
	})
}

// FuzzSetumask2Request: only 4-byte blocks of a mask up to 0777 are
// accepted, and they encode back to the same bytes.
func FuzzSetumask2Request(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0o22})
	f.Add([]byte{0, 0, 0o77})
	f.Add([]byte{0, 0, 0, 0, 0o77})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		mask, err := parseUmask2(b)
		if err != nil {
			if len(b) != 4 && !errors.Is(err, errMaskLength) {
				t.Fatalf("%q: %v, want a length error", b, err)
			}
			return
		}
		if len(b) != 4 || mask < 0 || mask > 0o777 || !bytes.Equal(binary.BigEndian.AppendUint32(nil, uint32(mask)), b) {
			t.Fatalf("%q accepted as %#o", b, mask)
		}
	})
}

// FuzzChdirRequest: a directory is the block itself, never with a NUL.
func FuzzChdirRequest(f *testing.F) {
	f.Add([]byte("/tmp"))
	f.Add([]byte("relative/dir"))
	f.Add([]byte("/tmp\x00/etc"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir, err := session.ParseChdir(b)
		if err != nil {
			if bytes.IndexByte(b, 0) < 0 {
				t.Fatalf("%q refused: %v", b, err)
			}
			return
		}
		if dir != string(b) || strings.IndexByte(dir, 0) >= 0 {
			t.Fatalf("%q decoded to %q", b, dir)
		}
	})
}

// FuzzAttachioRequest sends a payload with some descriptors over a real
// socket pair: exactly three descriptors with the first byte are
// accepted, anything else is refused, and no descriptor is leaked.
func FuzzAttachioRequest(f *testing.F) {
	f.Add([]byte{0}, uint8(3))
	f.Add([]byte{0}, uint8(0))
	f.Add([]byte{0}, uint8(2))
	f.Add([]byte{0}, uint8(4))
	f.Add([]byte("xyz"), uint8(3))
	f.Add([]byte{}, uint8(3))
	f.Add([]byte{0}, uint8(20))
	null, err := os.Open(os.DevNull)
	if err != nil {
		f.Fatal(err)
	}
	defer null.Close()
	f.Fuzz(func(t *testing.T, payload []byte, n uint8) {
		n %= maxFDs + 4
		fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		client, server := unixConn(t, fds[0]), unixConn(t, fds[1])
		defer client.Close()
		defer server.Close()
		before := openFDs(t)
		var oob []byte
		if n > 0 {
			passed := make([]int, n)
			for i := range passed {
				passed[i] = int(null.Fd())
			}
			oob = unix.UnixRights(passed...)
		}
		if len(payload) > 0 {
			if _, _, err := client.WriteMsgUnix(payload, oob, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			client.CloseWrite()
		}
		got, err := recvStdio(server)
		switch {
		case len(payload) == 0:
			if !errors.Is(err, session.ErrTruncated) {
				t.Fatalf("end of input: %v", err)
			}
		case n == 3:
			if err != nil || len(got) != 3 {
				t.Fatalf("3 descriptors refused: %v", err)
			}
		default:
			if err == nil {
				t.Fatalf("%d descriptors accepted", n)
			}
		}
		fdpass.Close(got)
		if after := openFDs(t); after != before {
			t.Fatalf("%d descriptors open before, %d after", before, after)
		}
	})
}

// FuzzValidateRequest: any argument and environment blocks give only the
// instructions chg knows.
func FuzzValidateRequest(f *testing.F) {
	f.Add([]byte("--config\x00ui.color=never\x00log"), []byte("PATH=/bin\x00LANG=C"))
	f.Add([]byte("--config\x00nodot"), []byte{})
	f.Add([]byte{}, []byte("CHGHG=/x\x00CMDSRV_X=1\x00LC_ALL=C"))
	f.Add([]byte("-R\x00"), []byte("=\x00A"))
	cfg := &protocol.Config{}
	st, err := NewState(f.TempDir()+"/server", cfg, []string{"PATH=/bin"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	inst := regexp.MustCompile(`\A(unlink \S.*|reconnect|redirect \S.*|exit 255)\z`)
	f.Fuzz(func(t *testing.T, args, env []byte) {
		c := &conn{sess: &session.Session{}, state: st, opts: &Options{}}
		insts, err := c.instructions(parseArgs(args), parseArgs(env))
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range insts {
			if !inst.MatchString(i) {
				t.Fatalf("unexpected instruction %q", i)
			}
		}
	})
}

func unixConn(t *testing.T, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
