//go:build !unix

package procstate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// lend, where standard handles cannot be lent by descriptor (Windows),
// lends what Go code reaches: the os.Stdout and os.Stderr variables
// become pipes relayed to the request's streams, and the working
// directory, environment and os.Args are the request's. A child process,
// or a write to the raw standard handle, still reaches the server's;
// os.Stdin stays the server's (fed from nothing), since asking the client
// for input no command reads would break its protocol.
func lend(req *protocol.Request, argv0 string, fn func() int) (status int, err error) {
	old, err := saveVars()
	if err != nil {
		return 0, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("lending stdout: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, fmt.Errorf("lending stderr: %w", err)
	}
	var relays sync.WaitGroup
	relay := func(dst io.Writer, src *os.File) {
		defer relays.Done()
		_, _ = io.Copy(dst, src) // a client gone: the command's writes still drain
		src.Close()
	}
	relays.Add(2)
	go relay(req.Stdout, outR)
	go relay(req.Stderr, errR)

	oldStdout, oldStderr := os.Stdout, os.Stderr
	var errs []error
	defer func() {
		os.Stdout, os.Stderr = oldStdout, oldStderr
		outW.Close()
		errW.Close()
		relays.Wait() // every byte written before the return is delivered
		errs = append(errs, old.restore()...)
		err = errors.Join(errs...)
	}()
	os.Stdout, os.Stderr = outW, errW
	if err := old.lend(req, argv0); err != nil {
		errs = append(errs, err)
		return 0, nil
	}
	return fn(), nil
}

func getwd() (string, error) { return os.Getwd() }
