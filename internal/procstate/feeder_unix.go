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

// How often the feeder looks for a reader blocked on fd 0 before the
// first one (demand_linux.go): every demandPoll at first, then less and
// less often, up to demandPollMax. A look costs about 0.1 ms (a few
// /proc files per thread), so a command that reads its stdin at once
// waits about 2 ms for its first input, and one that runs a long time
// without reading costs the server well under 1% of a CPU.
const (
	demandPoll    = 2 * time.Millisecond
	demandPollMax = 50 * time.Millisecond
)

// feeder gives fd 0 the request's stdin: a pipe that it fills from src,
// one 'I' request at a time, each time a reader waits on it empty.
type feeder struct {
	src  io.Reader
	r, w int // the pipe; w is -1 where no reader can be seen (fd 0 is /dev/null)
	ino  uint64

	mu      sync.Mutex
	stopped bool // no more asking the client
	timer   *time.Timer
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

// start begins watching for a reader, once fd 0 is the pipe: the first
// look is after demandPoll, so a shorter command costs nothing more.
func (f *feeder) start() {
	if f.w < 0 {
		return
	}
	f.timer = time.AfterFunc(demandPoll, f.run)
}

func (f *feeder) run() {
	defer close(f.done)
	var buf []byte
	for f.awaitReader() {
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if stopped {
			return
		}
		if buf == nil {
			buf = make([]byte, 64<<10)
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

// awaitReader returns true once a reader waits on an empty pipe, false
// when the command is over. Input is asked for only then, never ahead of
// the reader: an 'I' request outstanding when the command prompts ('L')
// would mix the client's two answers. It looks at once, then every
// demandPoll, less often as time goes by.
func (f *feeder) awaitReader() bool {
	t := time.NewTimer(demandPoll)
	defer t.Stop()
	interval := demandPoll
	for looks := 1; ; looks++ {
		if f.pipeEmpty() && readerWaiting(f.ino) {
			return true
		}
		select {
		case <-f.stop:
			return false
		case <-t.C:
		}
		if looks%10 == 0 {
			interval = min(2*interval, demandPollMax)
		}
		t.Reset(interval)
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
	f.mu.Lock()
	_ = unix.Close(f.r)
	f.r = -1
	f.mu.Unlock()
	if f.timer == nil || f.timer.Stop() {
		close(f.done) // run never started
	}
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
