//go:build unix

package procstate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/sysfd"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// OnRelay, if set, is called with the read ends of the pipes that will be
// fds 1 and 2 (stdout, stderr) of each lent command, before it runs. A
// unix worker hands duplicates of them to its master, which can then
// forward what the command wrote before it ended the process (os.Exit,
// log.Fatal, a panic in a goroutine): the relay's own reads die with it.
// It may return a buffer for the relay to read into (at most 64 KiB is
// used) and hold, which is told, for the stream (0 stdout, 1 stderr),
// what buf is about to hold and holds: -m before a read of the m bytes
// the pipe holds (buf[:m] zeroed), n once n bytes are read (a read of
// m bytes then takes exactly m), 0 once they are forwarded. A worker
// keeps both where its master can read them after its death: a process
// killed as a read returns has taken the bytes out of the pipe without
// learning how many, and -m says how many it asked for. Set it once, before
// any command is lent the process.
var OnRelay func(stdout, stderr int) (buf []byte, hold func(stream, n int))

func lend(req *protocol.Request, argv0 string, fn func() int) (status int, err error) {
	saved, err := sysfd.SaveStdio()
	if err != nil {
		return 0, err
	}
	defer saved.Close()
	out, err := newRelay(req.Stdout, req.Stderr)
	if err != nil {
		return 0, err
	}
	in, err := newFeeder(req.Stdin)
	if err != nil {
		out.finish()
		return 0, err
	}
	if OnRelay != nil {
		if buf, hold := OnRelay(out.r[0], out.r[1]); len(buf) > 0 && hold != nil {
			out.buf, out.hold = buf, hold
		}
	}
	out.start()
	old, err := saveVars()
	if err != nil {
		out.finish()
		in.finish()
		return 0, err
	}
	oldUmask := unix.Umask(0o022)
	unix.Umask(oldUmask)

	var errs []error
	defer func() {
		// Put the process back, in the order that lets the relays end:
		// our descriptors 0-2 first, so that only the pipes' own ends
		// (and children the command left behind) still hold them.
		if err := saved.Restore(); err != nil {
			errs = append(errs, err)
		}
		out.finish()
		in.finish()
		errs = append(errs, old.restore()...)
		unix.Umask(oldUmask)
		err = errors.Join(errs...)
	}()
	if err := sysfd.Dup2(in.r, 0); err != nil {
		errs = append(errs, fmt.Errorf("lending descriptor 0: %w", err))
		return 0, nil
	}
	if err := sysfd.Dup2(out.w[0], 1); err != nil {
		errs = append(errs, fmt.Errorf("lending descriptor 1: %w", err))
		return 0, nil
	}
	if err := sysfd.Dup2(out.w[1], 2); err != nil {
		errs = append(errs, fmt.Errorf("lending descriptor 2: %w", err))
		return 0, nil
	}
	if err := old.lend(req, argv0); err != nil {
		errs = append(errs, err)
		return 0, nil
	}
	in.start()
	// The request's stdin is fd 0 too where fd 0 is fed from it: two
	// readers of the 'I' channel at once would split its answers.
	stdin, stdout, stderr := req.Stdin, req.Stdout, req.Stderr
	if canSeeReaders {
		req.Stdin = lentStdin(stdin)
	}
	req.Stdout = &syncWriter{flush: out.flush, w: stdout}
	req.Stderr = &syncWriter{flush: out.flush, w: stderr}
	defer func() { req.Stdin, req.Stdout, req.Stderr = stdin, stdout, stderr }()
	return fn(), nil
}

// pipe returns a close-on-exec pipe: r, w. The flag is set under
// ForkLock, which exec holds while it forks (macOS has no pipe2), so no
// child started meanwhile inherits the pipe.
func pipe() (int, int, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(p[:]); err != nil {
		return -1, -1, fmt.Errorf("creating a pipe: %w", err)
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return p[0], p[1], nil
}

// relay forwards what the command writes to fds 1 and 2 to its writers.
type relay struct {
	mu   sync.Mutex // held while reading the pipes and writing on
	r, w [2]int     // the pipes' ends: [0] stdout, [1] stderr
	dst  [2]io.Writer
	// eof marks a pipe whose every writer has gone.
	eof        [2]bool
	stopR      int // readable once finish wants the relay to end
	stopW      int
	timer      *time.Timer // starts run, unless the command ends first; nil until start
	done       chan struct{}
	writeFails error
	// buf is what the relay reads into; hold, if set, is told what buf
	// holds (OnRelay).
	buf  []byte
	hold func(stream, n int)
}

// relayDelay is how long a command runs before its output is forwarded
// while it runs: a shorter command's output waits in the pipes (64 KiB
// each) and is forwarded once it ends, with no thread woken for it. A
// command that fills a pipe sooner waits at most this long.
const relayDelay = time.Millisecond

// relayBuf is the relays' read buffer: one relay exists at a time (Lend
// serialises), and it reads only under its mutex.
var relayBuf = make([]byte, 64<<10)

func newRelay(stdout, stderr io.Writer) (*relay, error) {
	rl := &relay{dst: [2]io.Writer{stdout, stderr}, r: [2]int{-1, -1}, w: [2]int{-1, -1}, stopR: -1, stopW: -1, done: make(chan struct{}), buf: relayBuf}
	var err error
	for i := range 2 {
		if rl.r[i], rl.w[i], err = pipe(); err != nil {
			rl.abandon()
			return nil, err
		}
		if err = unix.SetNonblock(rl.r[i], true); err != nil {
			rl.abandon()
			return nil, fmt.Errorf("relay pipe: %w", err)
		}
	}
	if rl.stopR, rl.stopW, err = pipe(); err != nil {
		rl.abandon()
		return nil, err
	}
	return rl, nil
}

// start arms the relay: it forwards while the command runs from
// relayDelay on. Not before its buffer and hold are set (OnRelay): a
// relay reading into its own buffer would take bytes out of the pipes
// where a worker's master could not see them if the command then ends
// the process.
func (rl *relay) start() { rl.timer = time.AfterFunc(relayDelay, rl.run) }

// run forwards until finish.
func (rl *relay) run() {
	defer close(rl.done)
	fds := []unix.PollFd{{Fd: int32(rl.r[0]), Events: unix.POLLIN}, {Fd: int32(rl.r[1]), Events: unix.POLLIN}, {Fd: int32(rl.stopR), Events: unix.POLLIN}}
	for {
		for i := range 2 {
			if rl.eof[i] {
				fds[i].Fd = -1 // poll ignores it
			}
		}
		_, err := unix.Poll(fds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		rl.flush()
		if fds[2].Revents != 0 {
			return
		}
	}
}

// flush forwards what the pipes hold now.
func (rl *relay) flush() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for i := range 2 {
		for !rl.eof[i] {
			buf := rl.buf
			if rl.hold != nil {
				// Say what is about to leave the pipe (see OnRelay).
				if m, err := buffered(rl.r[i]); err == nil && m > 0 {
					buf = buf[:min(m, len(buf))]
					clear(buf)
					rl.hold(i, -len(buf))
				}
			}
			n, err := unix.Read(rl.r[i], buf)
			if n > 0 {
				if rl.hold != nil {
					rl.hold(i, n)
				}
				if _, werr := rl.dst[i].Write(rl.buf[:n]); werr != nil && rl.writeFails == nil {
					rl.writeFails = werr // the client is gone; keep draining
				}
				if rl.hold != nil {
					rl.hold(i, 0)
				}
				continue
			}
			if n == 0 && err == nil {
				rl.eof[i] = true
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			break // EAGAIN: empty for now
		}
	}
}

// finish ends the relay once fds 1 and 2 are no longer the pipes: what
// the command wrote before it returned is in the pipes, so one last
// flush forwards it all, even when a process the command left behind
// still holds a pipe open.
func (rl *relay) finish() {
	for i := range 2 {
		_ = unix.Close(rl.w[i])
		rl.w[i] = -1
	}
	if rl.timer != nil && !rl.timer.Stop() {
		// run started (or is starting): stop it and wait.
		_, _ = unix.Write(rl.stopW, []byte{0})
		<-rl.done
	}
	rl.flush()
	rl.abandon()
}

// abandon closes every descriptor still open.
func (rl *relay) abandon() {
	for _, fd := range []*int{&rl.r[0], &rl.r[1], &rl.w[0], &rl.w[1], &rl.stopR, &rl.stopW} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// lineReader is what a session's stdin offers its UI's prompts: a line
// on the 'L' channel (session.LineReader).
type lineReader interface {
	ReadLine() (string, error)
}

// lentStdin is the request's stdin while fd 0 is fed from it: reads go
// through fd 0, like the command's other reads, and a prompt's line still
// goes through 'L'.
func lentStdin(orig io.Reader) io.Reader {
	if lr, ok := orig.(lineReader); ok {
		return &stdinWithLines{lr: lr}
	}
	return struct{ io.Reader }{os.Stdin}
}

type stdinWithLines struct {
	lr lineReader
}

func (s *stdinWithLines) Read(p []byte) (int, error) { return os.Stdin.Read(p) }

func (s *stdinWithLines) ReadLine() (string, error) { return s.lr.ReadLine() }

// getwd is one getcwd: os.Getwd stats $PWD first.
func getwd() (string, error) { return unix.Getwd() }
