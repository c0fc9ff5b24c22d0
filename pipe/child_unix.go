//go:build unix

package pipe

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/clientpage"
	"github.com/cmdsrv/cmdsrv/internal/fdpass"
	"github.com/cmdsrv/cmdsrv/internal/procstate"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/sysfd"
)

// childEnv marks a process a Supervisor started: "1" for the first child
// of a session, childResume for one that takes over a session whose
// hello is out.
const (
	childEnv    = "CMDSRV_PIPE_CHILD"
	childResume = "resume"
	// childSpare: a child that resumes the session once its parent
	// writes a byte on its socket (the one serving it has died).
	childSpare = "spare"
)

// The descriptors a Supervisor hands its child, after 0-2.
const (
	childCtlFD    = 3 // socket to the parent: a lent command's pipes
	childPageFD   = 4 // the client page
	childStdoutFD = 5 // what start-up writes to fd 1, kept for the parent
	childStderrFD = 6 // and to fd 2
	// The child starts with fds 1 and 2 on the two files above, so that
	// what its packages' initialisation writes is kept too (and never
	// reaches the protocol stream); TakeChild gives them back these.
	childOutFD     = 7 // the client's stdout
	childErrFD     = 8 // the server's stderr
	childFirstFree = 9
)

// Child is what a supervised pipe server's child was handed by its
// parent (see Supervisor): its client page, a socket to the parent and
// the files that keep what its start-up writes. Set it as Server.Child.
type Child struct {
	resume  bool
	spare   bool
	ctl     *net.UnixConn
	page    *clientpage.Page
	capture [2]*os.File
	// pid and pgid are the parent's, which the hello names: the server
	// the client started, which forwards its signals to the child.
	pid, pgid int
}

// IsChild reports whether a Supervisor started this process, without
// taking anything (TakeChild does).
func IsChild() bool { return os.Getenv(childEnv) != "" }

// TakeChild returns what the Supervisor that started this process handed
// it, and removes the mark from the environment, which commands and
// their children must not inherit. It returns nil, nil when no
// Supervisor started this process.
func TakeChild() (*Child, error) {
	mark, ok := os.LookupEnv(childEnv)
	if !ok {
		return nil, nil
	}
	if err := os.Unsetenv(childEnv); err != nil {
		return nil, fmt.Errorf("pipe child: %w", err)
	}
	for fd := childCtlFD; fd < childFirstFree; fd++ {
		unix.CloseOnExec(fd) // a command's children get none of them
	}
	for i, fd := range []int{childOutFD, childErrFD} {
		if err := sysfd.Dup2(fd, i+1); err != nil {
			return nil, fmt.Errorf("pipe child: descriptor %d: %w", i+1, err)
		}
		_ = unix.Close(fd)
	}
	c := &Child{resume: mark == childResume || mark == childSpare, spare: mark == childSpare, pid: os.Getppid()}
	var err error
	if c.pgid, err = unix.Getpgid(c.pid); err != nil {
		c.pgid = unix.Getpgrp()
	}
	f := os.NewFile(childCtlFD, "pipe-parent")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("pipe child: the parent's socket: %w", err)
	}
	uc, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return nil, fmt.Errorf("pipe child: descriptor %d is not a unix socket", childCtlFD)
	}
	c.ctl = uc
	if c.page, err = clientpage.Map(os.NewFile(childPageFD, "client-page")); err != nil {
		uc.Close()
		return nil, fmt.Errorf("pipe child: %w", err)
	}
	c.capture = [2]*os.File{os.NewFile(childStdoutFD, "startup-stdout"), os.NewFile(childStderrFD, "startup-stderr")}
	taken.Store(c)
	return c, nil
}

// Spare reports whether this child is a spare, which waits for the child
// serving the session to die before it takes over: a Handler's Prepare
// can run before then (nil: false).
func (c *Child) Spare() bool { return c != nil && c.spare }

// taken is the Child this process took, if any: sessions nested in its
// commands name the supervisor in their hello too (helloIDs).
var taken atomic.Pointer[Child]

// helloIDs are the pid and process group every hello of this process
// names: its supervisor's in a child (0, 0: this process's own).
func helloIDs() (pid, pgid int) {
	if c := taken.Load(); c != nil {
		return c.pid, c.pgid
	}
	return 0, 0
}

// CaptureStartup sends what this process writes to fds 1 and 2 to the
// files its parent reads if it dies before it serves (its constructor
// exits, or fails): the parent answers the client's commands with it, as
// a plain run would have printed it. release puts fds 1 and 2 back and
// copies what was kept to fd 2 (nothing of the start-up belongs on the
// protocol stream). A nil Child captures nothing.
func (c *Child) CaptureStartup() (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	saved, err := sysfd.SaveStdio()
	if err != nil {
		return nil, fmt.Errorf("capturing start-up output: %w", err)
	}
	for i, f := range c.capture {
		if err := sysfd.Dup2(int(f.Fd()), i+1); err != nil {
			_ = saved.Restore()
			saved.Close()
			return nil, fmt.Errorf("capturing start-up output: %w", err)
		}
	}
	return func() {
		_ = saved.Restore()
		saved.Close()
		for _, f := range c.capture {
			b, _ := readAll(f)
			if len(b) > 0 {
				_, _ = os.Stderr.Write(b)
			}
			// Kept once: a later death is not the start-up's. (The
			// offset is shared with the next child's fds 1 and 2.)
			_ = f.Truncate(0)
			_, _ = f.Seek(0, io.SeekStart)
		}
	}, nil
}

// readAll reads file f from its start, whatever its offset.
func readAll(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b[:n], err
}

// begin starts sess on in and out as the child serves them (every frame
// written from the page, every byte read counted there): it sends the
// hello, or resumes the session the parent's last child served, then
// tells the parent it serves. It returns the streams for sess.Serve.
func (c *Child) begin(sess *session.Session, in io.Reader, out io.Writer) (io.Reader, io.Writer, error) {
	f, ok := out.(*os.File)
	if !ok {
		return nil, nil, fmt.Errorf("pipe child: output is not a file")
	}
	if c.spare {
		// Warm, and touching neither stream until told to take over.
		var b [1]byte
		if _, err := io.ReadFull(c.ctl, b[:]); err != nil {
			return nil, nil, fmt.Errorf("pipe child: waiting to take over: %w", err)
		}
	}
	rc, err := frameConn(f)
	if err != nil {
		return nil, nil, fmt.Errorf("pipe child: %w", err)
	}
	procstate.OnRelay = c.handRelay
	sess.OnCommand = c.page.StartCommand
	r, w := &pageReader{page: c.page, r: in}, &pageWriter{page: c.page, rc: rc}
	if c.resume {
		err = sess.Resume(r, w)
	} else {
		err = sess.Greet(r, w)
	}
	if err != nil {
		return nil, nil, err
	}
	c.page.SetReady()
	return r, w, nil
}

// frameConn is what the child writes its frames on: for a pipe or a
// socket, a non-blocking duplicate of f, so that a write to a client
// that does not read waits in Go's poller, with what went out recorded
// in the page, not inside write(2), where a death would leave how much
// of the frame went out unknown (clientpage: a torn frame). Anything
// else (a terminal, a file: descriptions that others share) is written
// as it is.
func frameConn(f *os.File) (syscall.RawConn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if kind := st.Mode & unix.S_IFMT; kind != unix.S_IFIFO && kind != unix.S_IFSOCK {
		return f.SyscallConn()
	}
	fd, err := sysfd.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("output: %w", err)
	}
	// Kept open for the process's life, as the session's output is.
	return os.NewFile(uintptr(fd), "protocol-out-nonblocking").SyscallConn()
}

// handRelay hands the parent the read ends of a lent command's fd 1 and
// fd 2 pipes (procstate.OnRelay), so that what the command wrote before
// this process died is not lost with the relay.
func (c *Child) handRelay(stdout, stderr int) ([]byte, func(stream, n int)) {
	rc, err := c.ctl.SyscallConn()
	if err == nil {
		err = fdpass.Send(rc, []byte{'r'}, stdout, stderr)
	}
	if err != nil {
		return nil, nil
	}
	return c.page.RelayBuffer()
}

// pageReader counts what the session reads from the client.
type pageReader struct {
	page *clientpage.Page
	r    io.Reader
}

func (p *pageReader) Read(b []byte) (int, error) { return p.page.Read(p.r, b) }

// pageWriter writes each frame from the page. It has no SyscallConn of
// its own, so the frame writer makes one Write a frame.
type pageWriter struct {
	page *clientpage.Page
	rc   syscall.RawConn
}

func (p *pageWriter) Write(b []byte) (int, error) { return p.page.Write(p.rc, b) }
