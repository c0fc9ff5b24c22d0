//go:build !unix

package procstate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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

	oldDir, err := os.Getwd()
	if err != nil {
		outW.Close()
		errW.Close()
		relays.Wait()
		return 0, fmt.Errorf("getting working directory: %w", err)
	}
	oldStdout, oldStderr := os.Stdout, os.Stderr
	oldEnv, oldArgs := os.Environ(), os.Args
	var errs []error
	defer func() {
		os.Stdout, os.Stderr = oldStdout, oldStderr
		outW.Close()
		errW.Close()
		relays.Wait() // every byte written before the return is delivered
		if err := os.Chdir(oldDir); err != nil {
			errs = append(errs, fmt.Errorf("restoring working directory: %w", err))
		}
		if !slices.Equal(os.Environ(), oldEnv) {
			if err := setEnv(oldEnv); err != nil {
				errs = append(errs, err)
			}
		}
		os.Args = oldArgs
		err = errors.Join(errs...)
	}()
	os.Stdout, os.Stderr = outW, errW
	if req.Dir != "" {
		if err := os.Chdir(req.Dir); err != nil {
			errs = append(errs, fmt.Errorf("changing to the client's directory: %w", err))
			return 0, nil
		}
	}
	if req.Env != nil {
		if err := setEnv(req.Env); err != nil {
			errs = append(errs, err)
			return 0, nil
		}
	}
	os.Args = append([]string{argv0}, req.Args...)
	return fn(), nil
}

// setEnv makes the environment exactly env.
func setEnv(env []string) error {
	os.Clearenv()
	for _, kv := range env {
		// The name may start with '=' (Windows' per-drive directories,
		// "=C:=C:\x"): the separator is the first '=' after that.
		i := strings.IndexByte(kv[min(1, len(kv)):], '=')
		if i < 0 {
			continue
		}
		k, v := kv[:i+1], kv[i+2:]
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	return nil
}
