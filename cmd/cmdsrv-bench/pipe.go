package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// benchPipeRoundTrip: runcommand of a trivial command over a pipe, next to
// a raw one-byte ping-pong with a child process and Mercurial's pipe
// server running its cheapest command.
func benchPipeRoundTrip(cfg *config) ([]row, error) {
	n := 2000
	if cfg.quick {
		n = 200
	}
	var rows []row

	// The floor: one byte there and back through two pipes.
	cmd := helperCmd(cfg, "pingpong")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := []byte{'x'}
	raw, err := median(cfg.reps, func() (float64, error) {
		return perOp(n, func() error {
			if _, err := in.Write(b); err != nil {
				return err
			}
			_, err := io.ReadFull(out, b)
			return err
		})
	})
	in.Close()
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("ping-pong: %w", err)
	}
	rows = append(rows, row{group: "1 pipe round trip", name: "raw pipe ping-pong", value: raw, baseline: "raw pipe ping-pong"})

	// Start to hello: the process start, its constructor and (on Unix)
	// the supervised child the pipe server serves from.
	starts := 20
	if cfg.quick {
		starts = 10
	}
	hello, err := median(cfg.reps, func() (float64, error) {
		return perOp(starts, func() error {
			c, err := client.StartPipe(context.Background(), cfg.cmdsrv)
			if err != nil {
				return err
			}
			return c.Close()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("start to hello: %w", err)
	}
	rows = append(rows, row{group: "1 pipe round trip", name: "cmdsrv pipe: start to hello (and close)", value: hello, baseline: "raw pipe ping-pong"})

	c, err := client.StartPipe(context.Background(), cfg.cmdsrv)
	if err != nil {
		return nil, err
	}
	v, err := median(cfg.reps, func() (float64, error) {
		return perOp(n, func() error { return runOK(c, "true") })
	})
	c.Close()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: "1 pipe round trip", name: "cmdsrv pipe: true", value: v, baseline: "raw pipe ping-pong"})

	if cfg.hg == "" {
		rows = append(rows, na("1 pipe round trip", "hg serve --cmdserver pipe: root", "raw pipe ping-pong", "hg not installed"))
		return rows, nil
	}
	hgCmd := exec.Command(cfg.hg, "serve", "--cmdserver", "pipe", "-R", cfg.hgRepo)
	hgCmd.Env = cfg.hgEnv
	hc, err := client.StartCommand(hgCmd)
	if err != nil {
		return nil, err
	}
	hn := max(n/10, 50)
	v, err = median(cfg.reps, func() (float64, error) {
		return perOp(hn, func() error { return runOK(hc, "root") })
	})
	hc.Close()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: "1 pipe round trip", name: "hg serve --cmdserver pipe: root", value: v, baseline: "raw pipe ping-pong"})
	return rows, nil
}

func runOK(c *client.Client, args ...string) error {
	code, err := c.RunCommand(context.Background(), args, nil)
	if err == nil && code != 0 {
		err = fmt.Errorf("%v exited %d", args, code)
	}
	return err
}

// benchOutput: debugoutput over 'o' next to a raw pipe copy of the same
// number of bytes, and the unix service's next to a raw unix-socket copy.
func benchOutput(cfg *config) ([]row, error) {
	n := cfg.outBytes
	args := []string{"debugoutput", fmt.Sprint(n)}
	group := fmt.Sprintf("2 output %d MiB", n>>20)
	return interleaved(cfg, group, []measurement{
		{name: "raw pipe copy", baseline: "raw pipe copy", start: rawStart(cfg, fmt.Sprintf("emit:%d", n), n, false)},
		{name: "cmdsrv debugoutput on 'o'", baseline: "raw pipe copy", start: servedStart(cfg, args, n, nil)},
		{name: "cmdsrv debugoutput on 'o', lean reader", baseline: "raw pipe copy", start: leanStart(cfg, args, n, 0)},
		{name: "raw unix-socket copy", baseline: "raw unix-socket copy", start: rawSocketStart(cfg, n)},
		{name: "cmdsrv unix: debugoutput on 'o'", baseline: "raw unix-socket copy", start: unixStart(cfg, n)},
	})
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// inputChunk is what the input side writes at a time.
var inputChunk = make([]byte, 1<<20)

// benchInput: cat fed through 'I' (the bytes come back on 'o'), next to a
// raw copy through a child process (in and out as well).
func benchInput(cfg *config) ([]row, error) {
	n := cfg.inBytes
	group := fmt.Sprintf("3 input %d MiB", n>>20)
	input := func() func(int) ([]byte, error) {
		left := n
		return func(size int) ([]byte, error) {
			k := min(int64(size), left, int64(len(inputChunk)))
			left -= k
			return inputChunk[:k], nil
		}
	}
	return interleaved(cfg, group, []measurement{
		{name: "raw cat through a child", baseline: "raw cat through a child", start: rawStart(cfg, "cat", n, true)},
		{name: "cmdsrv cat fed through 'I'", baseline: "raw cat through a child", start: servedStart(cfg, []string{"cat"}, n, input)},
		{name: "cmdsrv cat fed through 'I', lean reader", baseline: "raw cat through a child", start: leanStart(cfg, []string{"cat"}, n, n)},
	})
}

// rawStart is the floor: a child in helper role writes n bytes to a pipe
// (fed with n bytes first when feed is set), read and discarded here.
// The clock runs from the child's ready byte to the last byte, as the
// served rows time a warm server: the start and exit of the child are
// not counted.
func rawStart(cfg *config, role string, n int64, feed bool) func() (func() (float64, error), func(), error) {
	return func() (func() (float64, error), func(), error) {
		return func() (float64, error) { return rawOnce(cfg, role, n, feed) }, func() {}, nil
	}
}

func rawOnce(cfg *config, role string, n int64, feed bool) (float64, error) {
	cmd := helperCmd(cfg, role)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	if err := awaitReady(out); err != nil {
		return 0, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer in.Close()
		for left := n; feed && left > 0; left -= int64(len(inputChunk)) {
			if _, err := in.Write(inputChunk[:min(int64(len(inputChunk)), left)]); err != nil {
				return
			}
		}
	}()
	got, err := drain(out)
	elapsed := time.Since(start)
	wg.Wait()
	if err != nil || got != n {
		return 0, fmt.Errorf("%s: %d bytes of %d, %v", role, got, n, err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// servedStart runs args on a cmdsrv pipe server, read through the client
// package; the command must write n bytes on 'o'. newInput, if set, makes
// the 'I' answers of each run.
func servedStart(cfg *config, args []string, n int64, newInput func() func(int) ([]byte, error)) func() (func() (float64, error), func(), error) {
	return func() (func() (float64, error), func(), error) {
		c, err := client.StartPipe(context.Background(), cfg.cmdsrv)
		if err != nil {
			return nil, nil, err
		}
		return func() (float64, error) { return clientOnce(c, args, n, newInput) }, func() { c.Close() }, nil
	}
}

// clientOnce runs args once on c and returns the bytes per second of its
// n bytes of output.
func clientOnce(c *client.Client, args []string, n int64, newInput func() func(int) ([]byte, error)) (float64, error) {
	var cw countWriter
	opts := &client.RunOptions{Stdout: &cw}
	if newInput != nil {
		opts.Input = newInput()
	}
	start := time.Now()
	code, err := c.RunCommand(context.Background(), args, opts)
	if err != nil || code != 0 || cw.n != n {
		return 0, fmt.Errorf("%v: code %d, %d bytes of %d, %v", args, code, cw.n, n, err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
