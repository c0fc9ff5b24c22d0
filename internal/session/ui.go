package session

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/message"
	"github.com/cmdsrv/cmdsrv/internal/wire"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// sessionUI is the UI of a request served by a Session.
type sessionUI struct {
	s                  *Session
	req                *protocol.Request
	interactiveDefault bool
	// foreground: System runs commands on the caller's own terminal
	// (RunShellForeground), not in a process group of their own.
	foreground  bool
	stopPagerFn func()
}

// NewLocalUI returns a UI for a command run directly in this process with
// the process's own stdio: prompts read req.Stdin (interactive by default
// when it is a terminal), System runs the command here, messages go to
// stdout and stderr, and there is no pager.
func NewLocalUI(req *protocol.Request) protocol.UI {
	f, ok := req.Stdin.(*os.File)
	return &sessionUI{s: &Session{}, req: req, interactiveDefault: ok && isTerminal(f), foreground: true}
}

// UseKey passes a key the command used (Request.UseKey) to the session's
// OnKey: a unix worker reports it to its master.
func (u *sessionUI) UseKey(key string) {
	if u.s.OnKey != nil {
		u.s.OnKey(key)
	}
}

func (u *sessionUI) Interactive() bool {
	v, _ := u.req.Config.Bool("ui.interactive", u.interactiveDefault)
	return v
}

func (u *sessionUI) Prompt(msg, def string) (string, error) {
	return u.ask(u.req.Stdout, msg+" ", def)
}

func (u *sessionUI) GetPass(msg string) (string, error) {
	if msg == "" {
		msg = "password: "
	}
	return u.ask(u.req.Stderr, msg, "")
}

func (u *sessionUI) ask(w io.Writer, msg, def string) (string, error) {
	if !u.Interactive() {
		_, err := fmt.Fprintf(w, "%s%s\n", msg, def)
		return def, err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return "", err
	}
	line, err := readLineFrom(u.req.Stdin)
	if err == io.EOF {
		return "", protocol.ErrResponseExpected
	}
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return def, nil
	}
	return line, nil
}

// readLineFrom reads one line from r: through 'L' when r is a LineReader,
// else byte by byte so nothing beyond the line is consumed.
func readLineFrom(r io.Reader) (string, error) {
	if lr, ok := r.(LineReader); ok {
		return lr.ReadLine()
	}
	if br, ok := r.(*bufio.Reader); ok {
		s, err := br.ReadString('\n')
		if err == io.EOF && s != "" {
			err = nil
		}
		return s, err
	}
	var b strings.Builder
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			b.WriteByte(c[0])
			if c[0] == '\n' {
				return b.String(), nil
			}
		}
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				return b.String(), nil
			}
			return "", err
		}
	}
}

func (u *sessionUI) System(ctx context.Context, cmd string) (int, error) {
	if u.s.System != nil {
		return u.s.System(ctx, u.req, cmd)
	}
	if u.foreground {
		return wire.RunShellForeground(ctx, shellOf(u.req), cmd)
	}
	return RunShell(ctx, u.req, cmd)
}

// RunShell runs cmd with /bin/sh -c (on Windows %COMSPEC% /c) in req's
// directory and environment, its output going to req's streams, and
// returns its exit status (minus the signal number when a signal killed
// it, as chg reports it).
//
// It is for a server, where no terminal stands behind the command: the
// shell leads a process group of its own, and when ctx ends (the client
// interrupted the command or went away) every process of that group gets
// SIGHUP, as from a terminal that hangs up, then SIGKILL if any is left
// after a second; RunShell returns once they are gone. Where the command
// does not run in its own process group (elsewhere than on unix), only
// the shell is killed.
func RunShell(ctx context.Context, req *protocol.Request, cmd string) (int, error) {
	return wire.RunShell(ctx, shellOf(req), cmd)
}

func shellOf(req *protocol.Request) wire.Shell {
	stdin, _ := req.Stdin.(*os.File) // the client's own stdin (attached); channels are not passed on
	return wire.Shell{Dir: req.Dir, Env: req.Env, Stdin: stdin, Stdout: req.Stdout, Stderr: req.Stderr}
}

func (u *sessionUI) StartPager(ctx context.Context) error {
	if u.s.Pager == nil || u.stopPagerFn != nil {
		return nil
	}
	pagerCmd, ok := pagerCommand(u.req)
	if !ok {
		return nil
	}
	stop, err := u.s.Pager(ctx, u.req, pagerCmd)
	if err != nil {
		return err
	}
	u.stopPagerFn = stop
	return nil
}

func (u *sessionUI) stopPager() {
	if u.stopPagerFn != nil {
		u.stopPagerFn()
		u.stopPagerFn = nil
	}
}

// pagerCommand decides whether req wants a pager and which command runs it:
// --pager on (or auto, the default, with stdout a terminal), and pager.pager
// config, then $PAGER, then "less -FRX".
func pagerCommand(req *protocol.Request) (string, bool) {
	mode := req.Pager
	if mode == "" {
		mode = "auto"
	}
	if enabled, err := req.Config.Bool("ui.paginate", true); err == nil && !enabled && req.Pager != "on" {
		return "", false
	}
	switch mode {
	case "off":
		return "", false
	case "auto":
		f, ok := req.Stdout.(*os.File)
		if !ok || !isTerminal(f) {
			return "", false
		}
	}
	if p := req.Config.Get("pager.pager", ""); p != "" {
		return p, true
	}
	if p := req.Getenv("PAGER"); p != "" {
		return p, true
	}
	return "less -FRX", true
}

func (u *sessionUI) Status(text string) { u.message(message.Status, text) }
func (u *sessionUI) Warn(text string)   { u.message(message.Warning, text) }
func (u *sessionUI) Error(text string)  { u.message(message.Error, text) }

func (u *sessionUI) message(typ, text string) {
	if u.s.msgEnc != "" && u.req.Config.Get("ui.message-output", "stdio") == "channel" {
		if b, err := message.Encode(typ, text); err == nil {
			_ = u.s.fw.WriteFrame(ChannelMessage, b)
			return
		}
	}
	w := u.req.Stdout
	if typ != message.Status {
		w = u.req.Stderr
	}
	_, _ = io.WriteString(w, text)
}
