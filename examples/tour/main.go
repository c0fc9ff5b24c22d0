// Command tour shows what a command server is for, in one run: an
// application whose start-up builds state for 200 ms answers a few
// commands cold (a process per call, as a CLI runs) and then warm, through
// a pipe server of the same binary started once (`tour serve --cmdserver
// pipe`, the way python-hglib starts `hg serve --cmdserver pipe`), driven
// by package client.
//
//	go run ./examples/tour
//
// The tour is itself a cmdsrv application: run with arguments, it is the
// application (`tour count WORDS...`, `tour serve --cmdserver pipe`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// startupCost is what building the application's state costs: loading
// an index, a configuration tree, a model.
const startupCost = 200 * time.Millisecond

func main() {
	if len(os.Args) > 1 {
		p := cmdsrv.Program{Name: "tour", NewHandler: newHandler}
		os.Exit(p.Main(os.Args))
	}
	if err := tour(); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

// newHandler builds the state once per serving process.
func newHandler(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
	time.Sleep(startupCost)
	built := time.Now()
	return protocol.HandlerFunc(func(_ context.Context, req *protocol.Request) int {
		if len(req.Args) == 0 || req.Args[0] != "count" {
			fmt.Fprintln(req.Stderr, "usage: tour count WORDS...")
			return 1
		}
		fmt.Fprintf(req.Stdout, "%d words (pid %d, state built %s ago)\n",
			len(req.Args)-1, os.Getpid(), time.Since(built).Round(time.Millisecond))
		return 0
	}), nil
}

var calls = [][]string{
	{"count", "one"},
	{"count", "one", "two"},
	{"count", "one", "two", "three"},
}

func tour() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("An application whose start-up costs %v, three commands.\n\n", startupCost)
	fmt.Println("Cold: a process per command, as a CLI runs.")
	for _, args := range calls {
		t0 := time.Now()
		out, err := exec.Command(self, args...).Output()
		if err != nil {
			return fmt.Errorf("running %v: %w", args, err)
		}
		fmt.Printf("  tour %-26s %-38s %6.1f ms\n", strings.Join(args, " "), strings.TrimSpace(string(out)), ms(time.Since(t0)))
	}

	fmt.Println("\nWarm: one pipe server (tour serve --cmdserver pipe), a runcommand per command.")
	t0 := time.Now()
	c, err := client.StartPipe(context.Background(), self) // self serve --cmdserver pipe
	if err != nil {
		return fmt.Errorf("starting the pipe server: %w", err)
	}
	defer c.Close()
	fmt.Printf("  %-70s %6.1f ms\n", "started, hello read: "+strings.Join(c.Hello.Capabilities, " "), ms(time.Since(t0)))
	for _, args := range calls {
		var out strings.Builder
		t0 := time.Now()
		code, err := c.RunCommand(context.Background(), args, &client.RunOptions{Stdout: &out, Stderr: os.Stderr})
		if err != nil || code != 0 {
			return fmt.Errorf("runcommand %v: exit %d, %v", args, code, err)
		}
		fmt.Printf("  runcommand %-20s %-38s %6.1f ms\n", strings.Join(args, " "), strings.TrimSpace(out.String()), ms(time.Since(t0)))
	}
	fmt.Println("\nThe same binary also serves a unix socket (serve --cmdserver unix --address PATH)")
	fmt.Println("and chg (serve --cmdserver chgunix); see the README.")
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
