package chgclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Environment variables read by an application's client: the own client
// mode of cmdsrv.Program and the thin client cmd/cmdsrv-chg, which share
// one server.
const (
	// ClientEnv=off makes the client run the application directly; the
	// own client mode also takes "auto".
	ClientEnv = "CMDSRV_CLIENT"
	// SockNameEnv overrides the socket the client uses.
	SockNameEnv = "CMDSRV_SOCKNAME"
	// DebugEnv=1 makes the client say, in one line on stderr, why it ran a
	// command directly; DebugEnv=2 also traces its steps (connecting,
	// starting a server, validate instructions).
	DebugEnv = "CMDSRV_DEBUG"
	// AppEnv names the application binary the thin client serves (a
	// path, or a name looked up on PATH), as CHGHG names hg for chg.
	AppEnv = "CMDSRV_APP"
)

// App is an application whose commands a client hands to the
// application's own chgunix server.
type App struct {
	// Name of the application: it names the socket directory (see
	// SocketPath) and prefixes debug lines.
	Name string
	// Executable returns the application's binary. It is called only when
	// a server must be started, so a call that finds one pays nothing for
	// it.
	Executable func() (string, error)
	// Argv0 is Args[0] of the started server ("": the executable's path).
	Argv0 string
	// ServerArgs are options the server is started with, after the ones
	// that make it a chgunix server (the caller's forwarded global
	// options).
	ServerArgs []string
	// Stderr receives debug lines and the client's own messages.
	Stderr io.Writer
}

// SocketPath is the server socket of app: $CMDSRV_SOCKNAME, else "server"
// in SocketDir(app.Name).
func (a *App) SocketPath() (string, error) {
	if s := os.Getenv(SockNameEnv); s != "" {
		return s, nil
	}
	dir, err := SocketDir(a.Name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "server"), nil
}

// Run hands args to the application's chgunix server, starting one when
// none answers, and returns the command's exit status. ok is false when
// nothing was run and the caller should run the command directly;
// CMDSRV_DEBUG=1 says why on Stderr. A command that was handed over and
// then lost (the connection broke) gets its message here, and status 255.
func (a *App) Run(args []string) (code int, ok bool) {
	if !StdioPresent() {
		a.Debugf("stdio descriptors missing: running directly")
		return 0, false
	}
	sock, err := a.SocketPath()
	if err != nil {
		a.Debugf("%v: running directly", err)
		return 0, false
	}
	code, err = Run(context.Background(), Options{
		SocketPath:    sock,
		ServerCommand: a.serverCommand,
		Args:          args,
		Debugf:        a.Tracef,
		ExitAfter:     true, // the caller exits with the code
	})
	if err == nil {
		return code, true
	}
	if errors.Is(err, ErrNotRun) {
		a.Debugf("%v: running directly", err)
		return 0, false
	}
	// The command was handed over and the connection broke: running it
	// again here could run it twice.
	fmt.Fprintf(a.Stderr, "abort: lost the connection to the server: %v\n", err)
	return 255, true
}

// serverCommand is the command that starts the application's chgunix
// server at address, as chg starts hg's.
func (a *App) serverCommand(address string) *exec.Cmd {
	exe, err := a.Executable()
	if err != nil {
		// Start fails with it: the command runs directly.
		return &exec.Cmd{Err: fmt.Errorf("finding the application's executable: %w", err)}
	}
	cmd := exec.Command(exe, append([]string{"serve", "--no-profile", "--cmdserver", "chgunix",
		"--address", address, "--daemon-postexec", "chdir:/"}, a.ServerArgs...)...)
	if a.Argv0 != "" {
		cmd.Args[0] = a.Argv0
	}
	return cmd
}

// Debugf writes one debug line (CMDSRV_DEBUG=1 or 2): the reason of a
// direct run. A multi-line reason (a server's stderr) is joined into one.
func (a *App) Debugf(format string, args ...any) {
	if v := os.Getenv(DebugEnv); v == "1" || v == "2" {
		msg := strings.ReplaceAll(strings.TrimSpace(fmt.Sprintf(format, args...)), "\n", " | ")
		fmt.Fprintf(a.Stderr, "%s: client: %s\n", a.Name, msg)
	}
}

// Tracef writes the client's steps (CMDSRV_DEBUG=2).
func (a *App) Tracef(format string, args ...any) {
	if os.Getenv(DebugEnv) == "2" {
		a.Debugf(format, args...)
	}
}
