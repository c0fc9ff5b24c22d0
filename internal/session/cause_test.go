package session

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestInterruptCause: Interrupt, what a unix or chg worker does on
// SIGINT, cancels the running command with SIGINT as its cause;
// InterruptWith with the cause given.
func TestInterruptCause(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interrupt func(s *Session) bool
		want      error
	}{
		{"Interrupt", (*Session).Interrupt, &protocol.SignalError{Signal: os.Interrupt}},
		{"InterruptWith", func(s *Session) bool { return s.InterruptWith(protocol.ErrHangup) }, protocol.ErrHangup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, causes := make(chan struct{}), make(chan error, 1)
			s := &Session{Handler: protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
				close(started)
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return 255
			}), Options: protocol.SessionOptions{Dir: "/"}, Env: []string{}}
			inR, inW := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- s.Serve(context.Background(), inR, io.Discard) }()
			go func() { _, _ = inW.Write([]byte("runcommand\n\x00\x00\x00\x05block")) }()
			<-started
			if !tc.interrupt(s) {
				t.Fatal("no command running")
			}
			select {
			case cause := <-causes:
				var se *protocol.SignalError
				if errors.As(tc.want, &se) {
					if !errors.As(cause, &se) || se.Signal != os.Interrupt {
						t.Fatalf("cause %v, want SIGINT", cause)
					}
				} else if !errors.Is(cause, tc.want) {
					t.Fatalf("cause %v, want %v", cause, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the command was not cancelled")
			}
			inW.Close()
			if err := <-done; err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}
