//go:build unix

package procstate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// demandPoll is how often the feeder looks for a reader blocked on fd 0
// before the first one (demand.go): a command that reads its stdin waits
// at most this long for its first input.
const demandPoll = 2 * time.Millisecond

// feeder gives fd 0 the request's stdin: a pipe that it fills from src
// once a reader waits on it, and from then on ahead of the reader until
// end of input (the command has shown it reads its stdin).
type feeder struct {
	src  io.Reader
	r, w int // the pipe; w is -1 where no reader can be seen (fd 0 is /dev/null)
	ino  uint64

	mu      sync.Mutex
	stopped bool // no more asking the client
	stop    chan struct{}
	done    chan struct{}
}

func newFeeder(src io.Reader) (*feeder, error) {
	f := &feeder{src: src, r: -1, w: -1, stop: make(chan struct{}), done: make(chan struct{})}
	if !canSeeReaders {
		// Without a way to see a reader wait, asking the client ahead of
		// one would break clients that give no input: fd 0 reads end of
		// input, as in a pipe server that lends nothing.
		null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", os.DevNull, err)
		}
		f.r = null
		close(f.done)
		return f, nil
	}
	var err error
	if f.r, f.w, err = pipe(); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.r, &st); err != nil {
		f.abandon()
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	f.ino = uint64(st.Ino)
	return f, nil
}

// start begins watching for a reader, once fd 0 is the pipe.
func (f *feeder) start() {
	if f.w < 0 {
		return
	}
	go f.run()
}

func (f *feeder) run() {
	defer close(f.done)
	t := time.NewTicker(demandPoll)
	defer t.Stop()
	for !readerWaiting(f.ino) {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
	buf := make([]byte, 64<<10)
	for {
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if stopped {
			return
		}
		// One 'I' request; its answer is awaited even when the command
		// ends meanwhile: the client is answering it.
		n, err := f.src.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			m, werr := unix.Write(f.w, p)
			if errors.Is(werr, unix.EINTR) {
				continue
			}
			if werr != nil {
				return // the command is over, its stdin closed
			}
			p = p[m:]
		}
		if err != nil {
			// End of input (or the connection failed): readers see
			// end of input too.
			f.mu.Lock()
			_ = unix.Close(f.w)
			f.w = -1
			f.mu.Unlock()
			return
		}
	}
}

// finish stops feeding once fd 0 is no longer the pipe.
func (f *feeder) finish() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	close(f.stop)
	// The read end goes first, so that a write blocked on a full pipe
	// fails (EPIPE) instead of waiting for a reader that is gone.
	_ = unix.Close(f.r)
	f.r = -1
	<-f.done
	f.abandon()
}

func (f *feeder) abandon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fd := range []*int{&f.r, &f.w} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}
