package protocol_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// A Handler takes everything from its Request: arguments, directory,
// environment, configuration and streams. Here it is called directly, as a
// test of an application would; cmdsrv.Program calls it for each command a
// client sends.
func ExampleHandlerFunc() {
	h := protocol.HandlerFunc(func(ctx context.Context, req *protocol.Request) int {
		if len(req.Args) < 2 {
			fmt.Fprintln(req.Stderr, "usage: greet NAME")
			return 1
		}
		times, err := req.Config.Int("greet.times", 1)
		if err != nil {
			fmt.Fprintln(req.Stderr, "abort:", err)
			return 255
		}
		for i := 0; i < times; i++ {
			fmt.Fprintf(req.Stdout, "hello, %s (from %s, in %s)\n", req.Args[1], req.Getenv("USER"), req.Path("sub"))
		}
		return 0
	})

	cfg := &protocol.Config{}
	cfg.Set("greet.times", "2")
	req := &protocol.Request{
		Args:   []string{"greet", "you"},
		Dir:    "/home/me",
		Env:    []string{"USER=me"},
		Config: cfg,
		Stdout: os.Stdout,
		Stderr: os.Stdout,
	}
	fmt.Println("status:", h.ServeCommand(context.Background(), req))
	// Output:
	// hello, you (from me, in /home/me/sub)
	// hello, you (from me, in /home/me/sub)
	// status: 0
}

// wordIndex is warm state built from a file: it embeds protocol.Deps and
// reads the file with Deps.ReadFile, which declares the file before
// reading it.
type wordIndex struct {
	protocol.Deps
	words map[string]bool
}

// newWordIndex is the Handler's constructor (a cmdsrv.NewHandlerFunc
// takes the configuration and a logger too).
func newWordIndex(path string) (protocol.Handler, error) {
	h := &wordIndex{words: map[string]bool{}}
	data, err := h.ReadFile(path) // one call: declared, then read
	if err != nil && !os.IsNotExist(err) {
		return nil, err // a missing file is an empty index, still declared
	}
	for _, w := range strings.Fields(string(data)) {
		h.words[w] = true
	}
	return h, nil
}

func (h *wordIndex) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if len(req.Args) == 2 && req.Args[0] == "has" && h.words[req.Args[1]] {
		fmt.Fprintln(req.Stdout, "yes")
		return 0
	}
	fmt.Fprintln(req.Stdout, "no")
	return 1
}

// A Handler whose state came from files says so with protocol.Deps. A
// server checks before every command that each declared file is as it was
// when the Handler read it, and builds the Handler again when one is not,
// so that no command answers from an old index; one that can watch the
// files rebuilds as soon as they change, between commands.
func ExampleDeps() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "words.txt")
	_ = os.WriteFile(path, []byte("alpha\nbeta\n"), 0o644)

	h, err := newWordIndex(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &protocol.Request{Args: []string{"has", "beta"}, Stdout: os.Stdout}
	h.ServeCommand(context.Background(), req)
	fmt.Println(h.(protocol.Dependent).Dependencies().Len(), "dependency")
	// Output:
	// yes
	// 1 dependency
}
