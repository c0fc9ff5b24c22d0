package chg

import (
	"context"
	"encoding/binary"
	"fmt"
	"go.uber.org/goleak"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// helperEnv marks the re-executed test binary that serves one chg session
// on fd 3. Extend changes fds 0-2, cwd, environment and umask of its
// process, so it must not run inside the test process itself.
const helperEnv = "CMDSRV_CHG_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain())
	}
	// Fails the package when a test leaves a goroutine behind. The
	// worker forker (parentdeath_linux.go) lives as long as the process by
	// design: its thread's end would kill the workers.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/cmdsrv/cmdsrv/unixfork.forker"))
}

// helperMain serves one session with a small command set on fd 3.
// CMDSRV_CHG_TEST_CONFIG holds its --config options, NUL-joined.
func helperMain() int {
	f := os.NewFile(3, "conn")
	nc, err := net.FileConn(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	uc := nc.(*net.UnixConn)
	cfg := &protocol.Config{}
	if v := os.Getenv("CMDSRV_CHG_TEST_CONFIG"); v != "" {
		if err := cfg.Apply(strings.Split(v, "\x00")); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 2
		}
	}
	var opts *Options
	if p := os.Getenv("CMDSRV_CHG_TEST_MTIME"); p != "" {
		opts = &Options{MtimePaths: []string{p}}
	}
	st, err := NewState(os.Getenv("CMDSRV_CHG_TEST_BASE"), cfg, os.Environ(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	if skip, _ := cfg.Bool("chgserver.skiphash", false); skip {
		st = nil
	}
	sess := &session.Session{Handler: protocol.HandlerFunc(testCommand), Stderr: os.Stderr, Options: protocol.SessionOptions{Config: cfg, GlobalOptions: true}}
	extend(sess, uc, st, opts)
	return session.ServeStatus(sess.Serve(context.Background(), uc, uc))
}

func testCommand(ctx context.Context, req *protocol.Request) int {
	args := req.Args
	switch args[0] {
	case "echo":
		fmt.Fprintln(req.Stdout, strings.Join(args[1:], " "))
	case "cat":
		_, _ = io.Copy(req.Stdout, req.Stdin)
	case "pwd":
		fmt.Fprintln(req.Stdout, req.Dir)
	case "getwd":
		wd, _ := os.Getwd()
		fmt.Fprintln(req.Stdout, wd)
	case "env":
		fmt.Fprintln(req.Stdout, req.Getenv(args[1])+","+os.Getenv(args[1]))
	case "umask":
		m := syscall.Umask(0)
		syscall.Umask(m)
		fmt.Fprintf(req.Stdout, "%04o\n", m)
	case "system":
		n, err := req.UI.System(ctx, args[1])
		if err != nil {
			fmt.Fprintln(req.Stderr, "abort:", err)
			return 255
		}
		return n
	case "page":
		if err := req.UI.StartPager(ctx); err != nil {
			fmt.Fprintln(req.Stderr, "abort:", err)
			return 255
		}
		fmt.Fprintln(req.Stdout, strings.Join(args[1:], " "))
	default:
		return 254
	}
	return 0
}

// helperSession is the client side of one helper session: a minimal chg.
type helperSession struct {
	t    *testing.T
	conn *net.UnixConn
	cmd  *exec.Cmd
	errb testutil.SyncBuffer
	caps []string
}

func startHelper(t *testing.T, config []string, env ...string) *helperSession {
	t.Helper()
	fds, err := sysfd.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	mine := os.NewFile(uintptr(fds[0]), "client")
	theirs := os.NewFile(uintptr(fds[1]), "server")
	defer theirs.Close()
	nc, err := net.FileConn(mine)
	require.NoError(t, err)
	mine.Close()
	s := &helperSession{t: t, conn: nc.(*net.UnixConn)}
	s.cmd = exec.Command(os.Args[0], "-test.run=^$")
	s.cmd.Env = append(os.Environ(), helperEnv+"=1", "CMDSRV_CHG_TEST_CONFIG="+strings.Join(config, "\x00"))
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.ExtraFiles = []*os.File{theirs}
	s.cmd.Stderr = &s.errb
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() {
		s.conn.Close()
		_ = s.cmd.Wait()
	})
	ch, hello := s.frame()
	require.Equal(t, byte('o'), ch)
	for _, line := range strings.Split(string(hello), "\n") {
		if v, ok := strings.CutPrefix(line, "capabilities: "); ok {
			s.caps = strings.Fields(v)
		}
	}
	return s
}

// frame reads one frame; input requests have a nil payload.
func (s *helperSession) frame() (byte, []byte) {
	s.t.Helper()
	require.NoError(s.t, s.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	ch, payload, size, err := wire.ReadFrame(s.conn, 0)
	if err != nil {
		s.t.Fatalf("reading a frame: %v (server stderr: %s)", err, s.errb.String())
	}
	if wire.IsInputChannel(ch) {
		return ch, []byte(strconv.Itoa(int(size)))
	}
	return ch, payload
}

func (s *helperSession) send(name string, block []byte) {
	s.t.Helper()
	b := []byte(name + "\n")
	if block != nil {
		b = wire.AppendBlock(b, block)
	}
	_, err := s.conn.Write(b)
	require.NoError(s.t, err)
}

// attach runs attachio, passing files as the client's stdio.
func (s *helperSession) attach(files ...*os.File) {
	s.t.Helper()
	s.send("attachio", nil)
	ch, size := s.frame()
	require.Equal(s.t, byte('I'), ch)
	require.Equal(s.t, "1", string(size))
	var fds []int
	for _, f := range files {
		fds = append(fds, int(f.Fd()))
	}
	_, _, err := s.conn.WriteMsgUnix([]byte{0}, unix.UnixRights(fds...), nil)
	require.NoError(s.t, err)
	ch, res := s.frame()
	require.Equal(s.t, byte('r'), ch)
	require.Equal(s.t, uint32(len(files)), binary.BigEndian.Uint32(res))
}

// result collects the frames of a request until 'r'; onS handles 'S'.
func (s *helperSession) result(onS func(payload []byte)) (out, errOut string, r []byte) {
	s.t.Helper()
	var o, e strings.Builder
	for {
		ch, p := s.frame()
		switch ch {
		case 'o':
			o.Write(p)
		case 'e':
			e.Write(p)
		case 'r':
			return o.String(), e.String(), p
		case 'S':
			require.NotNil(s.t, onS, "unexpected S frame %q", p)
			onS(p)
		case 'I', 'L':
			s.conn.Write(wire.AppendBlock(nil, nil))
		default:
			s.t.Fatalf("unexpected frame %c %q", ch, p)
		}
	}
}

func (s *helperSession) run(args ...string) (status int, out, errOut string) {
	s.t.Helper()
	s.send("runcommand", []byte(strings.Join(args, "\x00")))
	out, errOut, r := s.result(nil)
	require.Len(s.t, r, 4)
	return int(int32(binary.BigEndian.Uint32(r))), out, errOut
}

// wait ends the session and returns the helper's exit status.
func (s *helperSession) wait() int {
	s.t.Helper()
	_ = s.conn.CloseWrite()
	err := s.cmd.Wait()
	s.cmd.Process = nil
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(s.t, err)
	return 0
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
