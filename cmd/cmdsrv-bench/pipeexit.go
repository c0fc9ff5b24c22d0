package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// benchPipeExit: in a pipe session of oneshot (40 ms of package
// initialisation), the call after a command that ended the process with
// os.Exit: the session's first exit (a new child starts), and a later
// one (the spare child kept from the first exit on takes over), next to
// a warm call of the same session and to the plain run.
func benchPipeExit(cfg *config) ([]row, error) {
	const group = "17 pipe session: the call after os.Exit, 40 ms start"
	const warm = "warm call, no exit before it"
	rounds := 10
	if cfg.quick {
		rounds = 4
	}
	app, err := buildOneshot(cfg)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "CMDSRV_CLIENT=off")
	start := func() (*client.Client, error) {
		cmd := exec.Command(app, "serve", "--cmdserver", "pipe")
		cmd.Env = env
		return client.StartCommand(cmd)
	}
	echo := func(c *client.Client) error { return runOK(c, "echo", "hi") }
	exit := func(c *client.Client) error {
		code, err := c.RunCommand(context.Background(), []string{"exit", "3"}, nil)
		if err == nil && code != 3 {
			err = fmt.Errorf("exit 3 ended %d", code)
		}
		return err
	}
	timed := func(f func() error) (float64, error) {
		t := time.Now()
		err := f()
		return time.Since(t).Seconds(), err
	}
	var warmT, firstT, laterT, plainT []float64
	for i := 0; i < rounds; i++ {
		c, err := start()
		if err != nil {
			return nil, err
		}
		err = echo(c) // the child is up
		for j := 0; err == nil && j < 3; j++ {
			var v float64
			time.Sleep(300 * time.Millisecond) // each call as idle before it
			switch j {
			case 0:
				if v, err = timed(func() error { return echo(c) }); err == nil {
					warmT = append(warmT, v)
				}
			case 1:
				if err = exit(c); err == nil {
					v, err = timed(func() error { return echo(c) })
					firstT = append(firstT, v)
				}
			case 2:
				if err = exit(c); err == nil {
					v, err = timed(func() error { return echo(c) })
					laterT = append(laterT, v)
				}
			}
		}
		c.Close()
		if err != nil {
			return nil, err
		}
		v, err := timed(func() error {
			cmd := exec.Command(app, "echo", "hi")
			cmd.Env = env
			return cmd.Run()
		})
		if err != nil {
			return nil, fmt.Errorf("plain run: %w", err)
		}
		plainT = append(plainT, v)
	}
	return []row{
		{group: group, name: warm, value: medianOf(warmT), baseline: warm},
		{group: group, name: "after the session's first exit (a new child)", value: medianOf(firstT), baseline: warm},
		{group: group, name: "after a later exit (the spare child)", value: medianOf(laterT), baseline: warm},
		{group: group, name: "plain run of the same command", value: medianOf(plainT), baseline: warm},
	}, nil
}
