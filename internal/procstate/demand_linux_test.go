package procstate

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaderWaiting: a goroutine blocked reading a pipe is seen, and only
// that pipe's readers are.
func TestReaderWaiting(t *testing.T) {
	r, w, err := pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(w)
	other, otherW, err := pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	defer unix.Close(otherW)
	var st, ost unix.Stat_t
	if err := unix.Fstat(r, &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(other, &ost); err != nil {
		t.Fatal(err)
	}
	if readerWaiting(uint64(st.Ino)) {
		t.Fatal("a reader is seen before anyone reads")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1)
		_, _ = syscall.Read(r, b) // a blocking read, as os.Stdin's
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !readerWaiting(uint64(st.Ino)) {
		if time.Now().After(deadline) {
			t.Fatal("the blocked reader was never seen")
		}
		time.Sleep(time.Millisecond)
	}
	if readerWaiting(uint64(ost.Ino)) {
		t.Fatal("a reader of another pipe is seen")
	}
	if _, err := unix.Write(w, []byte{1}); err != nil {
		t.Fatal(err)
	}
	<-done
	unix.Close(r)
}

// BenchmarkReaderWaiting is what one look for a reader costs (the feeder
// looks every demandPoll or so while a command runs and has not read).
func BenchmarkReaderWaiting(b *testing.B) {
	var st unix.Stat_t
	if err := unix.Fstat(int(os.Stdin.Fd()), &st); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		readerWaiting(uint64(st.Ino))
	}
}
