package cmdsrv

import (
	"os"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/session"
)

// Client modes of a Program.
const (
	ClientOff  = "off"  // always run commands in this process
	ClientAuto = "auto" // hand commands to a warm server, starting one if needed
)

// Environment variables of the client mode (shared with the thin client
// cmd/cmdsrv-chg, which uses the same socket).
const (
	// ClientEnv (CMDSRV_CLIENT) selects the client mode: "auto" or "off";
	// it overrides Program.Client.
	ClientEnv = chgclient.ClientEnv
	// SockNameEnv (CMDSRV_SOCKNAME) overrides the socket the client mode
	// uses.
	SockNameEnv = chgclient.SockNameEnv
	// DebugEnv (CMDSRV_DEBUG) =1 makes the client mode say, in one line on
	// stderr, why it ran a command directly; =2 also traces its steps
	// (connecting, starting a server, validate instructions).
	DebugEnv = chgclient.DebugEnv
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
// directly. The client itself is chgclient.App, shared with the thin
// client cmd/cmdsrv-chg.
func (p *Program) runClient(d directArgs) (code int, ok bool) {
	// As chg does, a server started for this call gets the call's global
	// options; an application that did not opt in has none.
	serverArgs := forwardedOptions(d.globals)
	app := &chgclient.App{
		Name: p.Name,
		// Only a call that finds no server needs the executable's path, so
		// the readlink is not paid on every call.
		Executable: os.Executable,
		Argv0:      os.Args[0],
		ServerArgs: serverArgs,
		Stderr:     p.Stderr,
	}
	return app.Run(d.line)
}

// forwardedOptions are the user's global options a started server gets,
// as chg passes them.
func forwardedOptions(g session.GlobalOptions) []string {
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
