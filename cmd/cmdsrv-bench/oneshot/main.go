// Command oneshot is cmdsrv-bench's non-Reusable application: 40 ms of
// package initialisation (CPU work, as a large CLI's command tree and
// registries cost), and a Handler that serves one client per process, as
// a plain CLI made warm with cmdsrv.PlainMain does. Its Prepare builds
// the per-client state (a few milliseconds) before a client arrives.
//
// Commands: echo ARGS..., exit CODE (os.Exit, as plain CLIs end), conf
// (what package initialisation read from $ONESHOT_CONF, declared in
// Program.InitFiles).
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
const initCost = 40 * time.Millisecond

func init() { work(initCost) }

// conf is read as the package initialises, as CLIs read their
// configuration file.
var conf = readConf(os.Getenv("ONESHOT_CONF"))

func readConf(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "oneshot:", err)
		os.Exit(3)
	}
	return string(b)
}

// work keeps a CPU busy for d.
func work(d time.Duration) {
	start := time.Now()
	sum := sha256.Sum256([]byte("oneshot"))
	for time.Since(start) < d {
		for i := 0; i < 1000; i++ {
			sum = sha256.Sum256(sum[:])
		}
	}
}

func main() {
	p := cmdsrv.Program{Name: "oneshot", NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
		return &handler{}, nil
	},
		InitFiles:  []string{os.Getenv("ONESHOT_CONF")},
		ChgOptions: &cmdsrv.ChgOptions{SensitiveEnv: []string{"ONESHOT_CONF"}},
	}
	os.Exit(p.Main(os.Args))
}

// handler is not Reusable: every client gets a fresh process.
type handler struct {
	prepared bool
}

// Prepare builds the per-client state (3 ms) before the worker waits for
// its client; a direct run builds it in its command.
func (h *handler) Prepare(context.Context) error {
	work(3 * time.Millisecond)
	h.prepared = true
	return nil
}

func (h *handler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if !h.prepared {
		_ = h.Prepare(ctx)
	}
	if len(req.Args) == 2 && req.Args[0] == "exit" {
		code, _ := strconv.Atoi(req.Args[1])
		os.Exit(code)
	}
	if len(req.Args) == 1 && req.Args[0] == "conf" {
		fmt.Fprint(req.Stdout, conf)
		return 0
	}
	if len(req.Args) == 0 || req.Args[0] != "echo" {
		fmt.Fprintln(req.Stderr, "usage: oneshot echo ARGS... | exit CODE | conf")
		return 2
	}
	fmt.Fprintln(req.Stdout, strings.Join(req.Args[1:], " "))
	return 0
}
