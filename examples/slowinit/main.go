// Command slowinit is an example cmdsrv application whose start-up cost
// lives in package initialisation, not in its Handler: its init function
// works for 30 ms, as a real CLI's packages do when they register a big
// command tree, compile regular expressions into package variables or fill
// protobuf registries. Go runs every init before main, so every process of
// this binary pays them, whatever it then does.
//
// Its Handler is cheap and reusable. So:
//
//	slowinit echo hi                                # direct: pays the 30 ms
//	CMDSRV_CLIENT=auto slowinit echo hi             # own client mode: still pays them (the client is this binary)
//	CMDSRV_APP=$(which slowinit) cmdsrv-chg echo hi # thin client: warm, a few ms
//	CHGHG=$(which slowinit) chg echo hi             # Mercurial's chg: warm too
//
// Commands: echo ARGS..., pid (the pid of the process that ran the
// command, and how long its package init took), exit CODE.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// initCost is how long package initialisation works.
const initCost = 30 * time.Millisecond

// initTook is what package initialisation took in this process.
var initTook time.Duration

func init() {
	// CPU work, as real initialisation is, until initCost has passed: a
	// loaded machine stretches it no further than that.
	start := time.Now()
	sum := sha256.Sum256([]byte("slowinit"))
	for time.Since(start) < initCost {
		for i := 0; i < 1000; i++ {
			sum = sha256.Sum256(sum[:])
		}
	}
	initTook = time.Since(start)
}

func main() {
	p := cmdsrv.Program{Name: "slowinit", NewHandler: newHandler}
	os.Exit(p.Main(os.Args))
}

// handler is built in a moment: the cost was paid by init.
type handler struct{}

func newHandler(*protocol.Config, hclog.Logger) (protocol.Handler, error) { return handler{}, nil }

// Reusable: the handler keeps nothing of a request, so one worker may
// serve clients in turn.
func (handler) Reusable() bool { return true }

func (handler) ServeCommand(_ context.Context, req *protocol.Request) int {
	if len(req.Args) == 0 {
		fmt.Fprintln(req.Stderr, "usage: slowinit echo ARGS... | pid | exit CODE")
		return 1
	}
	switch req.Args[0] {
	case "echo":
		fmt.Fprintln(req.Stdout, strings.Join(req.Args[1:], " "))
		return 0
	case "pid":
		fmt.Fprintf(req.Stdout, "pid %d, init %v\n", os.Getpid(), initTook.Round(time.Millisecond))
		return 0
	case "exit":
		if len(req.Args) != 2 {
			fmt.Fprintln(req.Stderr, "abort: exit takes one argument")
			return 255
		}
		n, err := strconv.Atoi(req.Args[1])
		if err != nil {
			fmt.Fprintf(req.Stderr, "abort: %v\n", err)
			return 255
		}
		return n
	}
	fmt.Fprintf(req.Stderr, "slowinit: unknown command %q\n", req.Args[0])
	return 1
}
