package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// version of the reference binary.
const version = "0.1.0"

// initDelayEnv makes the constructor sleep, to stand for an application
// with expensive start-up in tests and benchmarks.
const initDelayEnv = "CMDSRV_DEBUG_INIT_DELAY"

// initFileEnv names a file the constructor reads (after the delay) and
// declares as a dependency, for the tests of fresh warm state: the
// command debuginitfile prints what was read.
const initFileEnv = "CMDSRV_DEBUG_INIT_FILE"

// initDepsEnv is a list of files (os.PathListSeparator between them) the
// constructor declares as dependencies without reading them: the
// benchmarks' measure of what the check before every command costs.
const initDepsEnv = "CMDSRV_DEBUG_INIT_DEPS"

// exitOnBadConfig does what many real CLIs do with a configuration file
// they cannot use: print why and exit, from the constructor (for the
// tests: a file "exit N MESSAGE" exits N after printing MESSAGE).
func exitOnBadConfig(path string, data []byte) {
	var code int
	var msg string
	if n, _ := fmt.Sscanf(string(data), "exit %d", &code); n != 1 {
		return
	}
	if _, rest, ok := strings.Cut(strings.TrimSpace(string(data)), " "); ok {
		_, msg, _ = strings.Cut(rest, " ")
	}
	fmt.Fprintf(os.Stderr, "cmdsrv: bad config %s: %s\n", path, msg)
	os.Exit(code)
}

type command struct {
	summary string
	hidden  bool // listed by `help --debug` only
	run     func(ctx context.Context, req *protocol.Request, args []string) int
}

// referenceHandler runs the reference command set. It keeps no state of
// one request that another could see, so it is reusable.
type referenceHandler struct {
	protocol.Deps
	commands map[string]command
	// initFile is what the constructor read from $CMDSRV_DEBUG_INIT_FILE;
	// initFileRead is false when the variable was unset or the file
	// missing.
	initFile     []byte
	initFileRead bool
}

func newReferenceHandler(cfg *protocol.Config, log hclog.Logger) (protocol.Handler, error) {
	if d := os.Getenv(initDelayEnv); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", initDelayEnv, err)
		}
		time.Sleep(dur)
	}
	h := &referenceHandler{}
	if path := os.Getenv(initFileEnv); path != "" {
		data, err := h.ReadFile(path)
		switch {
		case err == nil:
			h.initFile, h.initFileRead = data, true
			exitOnBadConfig(path, data)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%s: %w", initFileEnv, err)
		}
	}
	if list := os.Getenv(initDepsEnv); list != "" {
		h.DependOn(filepath.SplitList(list)...)
	}
	h.commands = map[string]command{
		"echo":             {summary: "print the arguments joined by a space", run: cmdEcho},
		"cat":              {summary: "copy files (or stdin, or -) to stdout", run: cmdCat},
		"pwd":              {summary: "print the command's working directory", run: cmdPwd},
		"umask":            {summary: "print the process umask in octal", run: cmdUmask},
		"env":              {summary: "print the environment, or the values of NAMEs", run: cmdEnv},
		"exit":             {summary: "exit with CODE", run: cmdExit},
		"true":             {summary: "exit 0", run: func(context.Context, *protocol.Request, []string) int { return 0 }},
		"false":            {summary: "exit 1", run: func(context.Context, *protocol.Request, []string) int { return 1 }},
		"sleep":            {summary: "sleep SECONDS (fractions allowed)", run: cmdSleep},
		"prompt":           {summary: "ask [--default TEXT] MESSAGE and print the answer", run: cmdPrompt},
		"getpass":          {summary: "ask for a password and print it", run: cmdGetpass},
		"message":          {summary: "write a [--warn|--error] status message", run: cmdMessage},
		"system":           {summary: "run CMD with the system shell (sh -c; %COMSPEC% /c on Windows) through the UI", run: cmdSystem},
		"config":           {summary: "print the configuration, or one value", run: cmdConfig},
		"version":          {summary: "print the version", run: cmdVersion},
		"help":             {summary: "list the commands", run: h.cmdHelp},
		"serve":            {summary: "serve --cmdserver pipe nested in this session", run: nil},
		"debugoutput":      {summary: "write BYTES bytes of output", hidden: true, run: cmdDebugOutput},
		"debugcrash":       {summary: "panic", hidden: true, run: func(context.Context, *protocol.Request, []string) int { panic("debugcrash") }},
		"debugwritestdout": {summary: "write to fd 1 and os.Stdout directly", hidden: true, run: cmdDebugWriteStdout},
		"debugreadstdin":   {summary: "read fd 0 directly", hidden: true, run: cmdDebugReadStdin},
		"debugisatty":      {summary: "say whether the command's stdin, stdout and stderr are terminals", hidden: true, run: cmdDebugIsatty},
		"debuginitfile":    {summary: "print what the constructor read from $" + initFileEnv + " (missing: no file)", hidden: true, run: h.cmdDebugInitFile},
	}
	return h, nil
}

// Reusable: the reference commands keep nothing between requests.
func (h *referenceHandler) Reusable() bool { return true }

func (h *referenceHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	if len(req.Args) == 0 {
		return h.cmdHelp(ctx, req, nil)
	}
	c, ok := h.commands[req.Args[0]]
	if !ok || c.run == nil {
		fmt.Fprintf(req.Stderr, "cmdsrv: unknown command '%s'\n(use 'cmdsrv help' for the list of commands)\n", req.Args[0])
		return 255
	}
	return c.run(ctx, req, req.Args[1:])
}

func (h *referenceHandler) cmdDebugInitFile(_ context.Context, req *protocol.Request, _ []string) int {
	if !h.initFileRead {
		fmt.Fprintln(req.Stdout, "missing")
		return 0
	}
	_, _ = req.Stdout.Write(h.initFile)
	return 0
}

func (h *referenceHandler) cmdHelp(_ context.Context, req *protocol.Request, args []string) int {
	debug := len(args) > 0 && args[0] == "--debug"
	names := make([]string, 0, len(h.commands))
	for n, c := range h.commands {
		if !c.hidden || debug {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	w := bufio.NewWriter(req.Stdout)
	fmt.Fprintf(w, "cmdsrv %s: a command server speaking Mercurial's command-server protocol\n\ncommands:\n\n", version)
	for _, n := range names {
		fmt.Fprintf(w, " %-17s %s\n", n, h.commands[n].summary)
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

func cmdEcho(_ context.Context, req *protocol.Request, args []string) int {
	if _, err := io.WriteString(req.Stdout, strings.Join(args, " ")+"\n"); err != nil {
		return 1
	}
	return 0
}

func cmdCat(ctx context.Context, req *protocol.Request, args []string) int {
	if len(args) == 0 {
		args = []string{"-"}
	}
	// Like hg cat, page the output (--pager on, or auto on a terminal;
	// only under chg, where the client runs the pager).
	if err := req.UI.StartPager(ctx); err != nil {
		fmt.Fprintf(req.Stderr, "abort: %v\n", err)
		return 255
	}
	buf := make([]byte, 64<<10)
	status := 0
	for _, a := range args {
		var r io.Reader = req.Stdin
		if a != "-" {
			f, err := os.Open(req.Path(a))
			if err != nil {
				fmt.Fprintf(req.Stderr, "cat: %s: %v\n", a, unwrap(err))
				status = 1
				continue
			}
			defer f.Close()
			r = f
		}
		if _, err := io.CopyBuffer(req.Stdout, r, buf); err != nil {
			fmt.Fprintf(req.Stderr, "cat: %s: %v\n", a, err)
			return 1
		}
	}
	return status
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func cmdPwd(_ context.Context, req *protocol.Request, _ []string) int {
	fmt.Fprintln(req.Stdout, req.Dir)
	return 0
}

func cmdUmask(_ context.Context, req *protocol.Request, _ []string) int {
	fmt.Fprintf(req.Stdout, "%04o\n", currentUmask())
	return 0
}

func cmdEnv(_ context.Context, req *protocol.Request, args []string) int {
	w := bufio.NewWriter(req.Stdout)
	if len(args) == 0 {
		env := append([]string(nil), req.Env...)
		sort.Strings(env)
		for _, e := range env {
			fmt.Fprintln(w, e)
		}
	}
	for _, name := range args {
		fmt.Fprintln(w, req.Getenv(name))
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

func cmdExit(_ context.Context, req *protocol.Request, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(req.Stderr, "abort: exit takes one argument: CODE")
		return 255
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: exit: invalid code '%s'\n", args[0])
		return 255
	}
	return n
}

func cmdSleep(ctx context.Context, req *protocol.Request, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(req.Stderr, "abort: sleep takes one argument: SECONDS")
		return 255
	}
	secs, err := strconv.ParseFloat(args[0], 64)
	if err != nil || secs < 0 {
		fmt.Fprintf(req.Stderr, "abort: sleep: invalid duration '%s'\n", args[0])
		return 255
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-ctx.Done():
		fmt.Fprintln(req.Stderr, "interrupted!")
		return 255
	}
}

func cmdPrompt(_ context.Context, req *protocol.Request, args []string) int {
	def := ""
	if len(args) >= 2 && args[0] == "--default" {
		def, args = args[1], args[2:]
	}
	ans, err := req.UI.Prompt(strings.Join(args, " "), def)
	return printAnswer(req, ans, err)
}

func cmdGetpass(_ context.Context, req *protocol.Request, args []string) int {
	ans, err := req.UI.GetPass(strings.Join(args, " "))
	return printAnswer(req, ans, err)
}

func printAnswer(req *protocol.Request, ans string, err error) int {
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: %v\n", err)
		return 255
	}
	fmt.Fprintln(req.Stdout, ans)
	return 0
}

func cmdMessage(_ context.Context, req *protocol.Request, args []string) int {
	kind := "status"
	if len(args) > 0 && (args[0] == "--warn" || args[0] == "--error") {
		kind, args = args[0][2:], args[1:]
	}
	text := strings.Join(args, " ") + "\n"
	switch kind {
	case "warn":
		req.UI.Warn(text)
	case "error":
		req.UI.Error(text)
	default:
		req.UI.Status(text)
	}
	return 0
}

func cmdSystem(ctx context.Context, req *protocol.Request, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(req.Stderr, "abort: system takes a command")
		return 255
	}
	status, err := req.UI.System(ctx, strings.Join(args, " "))
	if ctx.Err() != nil {
		fmt.Fprintln(req.Stderr, "interrupted!")
		return 255
	}
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: %v\n", err)
		return 255
	}
	return status
}

func cmdConfig(_ context.Context, req *protocol.Request, args []string) int {
	if len(args) > 0 {
		v, ok := req.Config.Lookup(args[0])
		if !ok {
			return 1
		}
		fmt.Fprintln(req.Stdout, v)
		return 0
	}
	w := bufio.NewWriter(req.Stdout)
	for _, k := range req.Config.Keys() {
		v, _ := req.Config.Lookup(k)
		fmt.Fprintf(w, "%s=%s\n", k, v)
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

func cmdVersion(_ context.Context, req *protocol.Request, _ []string) int {
	fmt.Fprintf(req.Stdout, "cmdsrv version %s (%s)\n", version, runtime.Version())
	return 0
}

func cmdDebugOutput(_ context.Context, req *protocol.Request, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(req.Stderr, "abort: debugoutput takes one argument: BYTES")
		return 255
	}
	n, err := protocol.ParseSize(args[0])
	if err != nil {
		fmt.Fprintf(req.Stderr, "abort: debugoutput: %v\n", err)
		return 255
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	for n > 0 {
		c := chunk[:min(int64(len(chunk)), n)]
		if _, err := req.Stdout.Write(c); err != nil {
			return 1
		}
		n -= int64(len(c))
	}
	return 0
}

func cmdDebugWriteStdout(_ context.Context, req *protocol.Request, _ []string) int {
	_, _ = syscall.Write(1, []byte("debugwritestdout: fd 1\n"))
	fmt.Fprintln(os.Stdout, "debugwritestdout: os.Stdout")
	fmt.Fprintln(req.Stdout, "debugwritestdout: done")
	return 0
}

// cmdDebugIsatty tells whether the request's own stdio are terminals, as a
// command deciding on colours or a pager would: under chg they are the
// client's descriptors, passed with attachio.
func cmdDebugIsatty(_ context.Context, req *protocol.Request, _ []string) int {
	for _, s := range []struct {
		name string
		f    any
	}{{"stdin", req.Stdin}, {"stdout", req.Stdout}, {"stderr", req.Stderr}} {
		state := "not a tty"
		if f, ok := s.f.(interface{ Fd() uintptr }); ok {
			if term.IsTerminal(int(f.Fd())) {
				state = "tty"
			}
		}
		fmt.Fprintf(req.Stdout, "%s: %s\n", s.name, state)
	}
	return 0
}

func cmdDebugReadStdin(_ context.Context, req *protocol.Request, _ []string) int {
	buf := make([]byte, 4096)
	n, _ := syscall.Read(0, buf)
	fmt.Fprintf(req.Stdout, "read: %d bytes\n", max(n, 0))
	return 0
}
