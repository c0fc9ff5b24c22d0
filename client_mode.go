package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cmdsrv/cmdsrv/chgclient"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// Client modes of a Program.
const (
	ClientOff  = "off"  // always run commands in this process
	ClientAuto = "auto" // hand commands to a warm server, starting one if needed
)

// Environment variables of the client mode.
const (
	// ClientEnv selects the client mode: "auto" or "off"; it overrides
	// Program.Client.
	ClientEnv = "CMDSRV_CLIENT"
	// SockNameEnv overrides the socket the client mode uses.
	SockNameEnv = "CMDSRV_SOCKNAME"
	// DebugEnv=1 makes the client mode say, in one line on stderr, why
	// it ran a command directly; DebugEnv=2 also traces its steps
	// (connecting, starting a server, validate instructions).
	DebugEnv = "CMDSRV_DEBUG"
)

func (p *Program) clientMode() string {
	if v := os.Getenv(ClientEnv); v == ClientAuto || v == ClientOff {
		return v
	}
	if p.Client == ClientAuto {
		return ClientAuto
	}
	return ClientOff
}

// runClient hands args to the application's chgunix server, as chg would.
// ok is false when nothing was run and the caller should run the command
// directly.
func (p *Program) runClient(d directArgs) (code int, ok bool) {
	if !stdioPresent() {
		p.debugf("stdio descriptors missing: running directly")
		return 0, false
	}
	sock, err := p.socketPath()
	if err != nil {
		p.debugf("%v: running directly", err)
		return 0, false
	}
	// As chg does, a server started for this call gets the call's global
	// options; an application that did not opt in has none.
	serverArgs := forwardedOptions(d.globals)
	code, err = chgclient.Run(context.Background(), chgclient.Options{
		SocketPath: sock,
		// Only a call that finds no server needs the executable's path, so
		// the readlink is not paid on every call.
		ServerCommand: func(address string) *exec.Cmd {
			exe, err := os.Executable()
			if err != nil {
				// Start fails with it: the command runs directly.
				return &exec.Cmd{Err: fmt.Errorf("finding executable: %w", err)}
			}
			cmd := exec.Command(exe, append([]string{"serve", "--no-profile", "--cmdserver", "chgunix",
				"--address", address, "--daemon-postexec", "chdir:/"}, serverArgs...)...)
			cmd.Args[0] = os.Args[0]
			return cmd
		},
		Args:      d.line,
		Debugf:    p.tracef,
		ExitAfter: true, // Main's caller exits with the code
	})
	if err == nil {
		return code, true
	}
	if errors.Is(err, chgclient.ErrInterrupted) {
		fmt.Fprintln(p.Stderr, "interrupted!")
		return 255, true
	}
	if errors.Is(err, chgclient.ErrNotRun) {
		p.debugf("%v: running directly", err)
		return 0, false
	}
	// The command was handed over and the connection broke: running it
	// again here could run it twice.
	fmt.Fprintf(p.Stderr, "abort: lost the connection to the server: %v\n", err)
	return 255, true
}

// forwardedOptions are the user's global options a started server gets,
// as chg passes them.
func forwardedOptions(g protocol.GlobalOptions) []string {
	var out []string
	for _, c := range g.Config {
		out = append(out, "--config", c)
	}
	if g.Cwd != "" {
		out = append(out, "--cwd", g.Cwd)
	}
	if g.Repository != "" {
		out = append(out, "-R", g.Repository)
	}
	if g.Traceback {
		out = append(out, "--traceback")
	}
	return out
}

func (p *Program) socketPath() (string, error) {
	if s := os.Getenv(SockNameEnv); s != "" {
		return s, nil
	}
	dir, err := chgclient.SocketDir(p.Name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "server"), nil
}

// debugf writes one debug line (CMDSRV_DEBUG=1 or 2): the reason of a
// direct run. A multi-line reason (a server's stderr) is joined into one.
func (p *Program) debugf(format string, args ...any) {
	if v := os.Getenv(DebugEnv); v == "1" || v == "2" {
		msg := strings.ReplaceAll(strings.TrimSpace(fmt.Sprintf(format, args...)), "\n", " | ")
		fmt.Fprintf(p.Stderr, "%s: client: %s\n", p.Name, msg)
	}
}

// tracef writes the client's steps (CMDSRV_DEBUG=2).
func (p *Program) tracef(format string, args ...any) {
	if os.Getenv(DebugEnv) == "2" {
		p.debugf(format, args...)
	}
}
