// Command cmdsrv-chg is a thin client for cmdsrv applications: it hands a
// command line to the application's warm chgunix server, as Mercurial's
// chg does for hg, without running the application's own start-up. Use it
// for an application whose start-up cost lives in package initialisation
// (init functions, package-level variables, big dependency trees), which
// the application's own client mode (CMDSRV_CLIENT=auto) pays on every
// call because it runs inside the application's binary.
//
// Install it with
//
//	go install github.com/cmdsrv/cmdsrv/cmd/cmdsrv-chg@latest
//
// and tell it the application, either way:
//
//	CMDSRV_APP=/usr/local/bin/myapp cmdsrv-chg ARGS...
//	ln -s $(go env GOPATH)/bin/cmdsrv-chg ~/bin/myapp   # ~/bin before the real myapp in PATH
//	myapp ARGS...
//
// Invoked under any name other than its own, it serves the application of
// that name: the first "myapp" on PATH that is not this client itself (a
// symlink or hard link to it), or $CMDSRV_APP when its base name is that
// name. Invoked as cmdsrv-chg, it serves $CMDSRV_APP (a path, or a name
// looked up on PATH).
//
// It uses the same socket as the application's own client mode
// ($CMDSRV_SOCKNAME, else $XDG_RUNTIME_DIR/NAME/server or /tmp/NAME-UID/server,
// NAME being the application binary's base name), so both share one
// server; it starts that server on first use and a fresh one when the
// binary changes. It passes the caller's terminal, directory, umask and
// environment, forwards signals (Ctrl-C, Ctrl-Z/fg), runs the server's
// system and pager requests, and when no server can be used it executes
// the application directly (with CMDSRV_CLIENT=off), so that a call
// always behaves as a direct run would. CMDSRV_CLIENT=off makes it run the
// application directly every time; CMDSRV_DEBUG=1 says on stderr why a
// call ran directly, CMDSRV_DEBUG=2 traces every step.
//
// It imports no more than chgclient (the standard library, x/sys/unix and
// the protocol's frames), so it starts in about the time of a minimal Go
// program whatever the application's own initialisation costs.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/envlist"
)

// selfName is the command's own name; invoked under any other name it
// serves the application of that name.
const selfName = "cmdsrv-chg"

func main() {
	os.Exit(run(os.Args))
}

func run(argv []string) int {
	app, err := findApp(argv[0], os.Getenv(chgclient.AppEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: abort: %v\n", selfName, err)
		return 255
	}
	args := argv[1:]
	c := &chgclient.App{
		Name:       app.name,
		Executable: app.path,
		Argv0:      app.argv0,
		Stderr:     os.Stderr,
	}
	switch {
	case os.Getenv(chgclient.ClientEnv) == "off":
	case chgclient.HasCmdserver(args):
		// A server is never run through a server.
	default:
		if code, ok := c.Run(args); ok {
			return code
		}
	}
	return app.execDirect(args)
}

// app is the application the client serves.
type app struct {
	name  string // base name: socket directory, debug lines
	spec  string // a path, or a name looked up on PATH
	argv0 string // Args[0] of the application when started
	found string // the resolved binary, once path has run
}

// findApp decides which application this client serves: the one it is
// named after when invoked under another name than its own (through a
// symlink), else $CMDSRV_APP.
func findApp(argv0, env string) (*app, error) {
	invoked := filepath.Base(argv0)
	if strings.TrimSuffix(invoked, ".exe") != selfName {
		a := &app{name: invoked, spec: invoked, argv0: argv0}
		if env != "" && filepath.Base(env) == invoked {
			a.spec = env // where the application is, when not on PATH
		}
		return a, nil
	}
	if env == "" {
		return nil, fmt.Errorf("no application to serve: set %s to its binary, or install %s as a symlink named after it", chgclient.AppEnv, selfName)
	}
	return &app{name: filepath.Base(env), spec: env, argv0: env}, nil
}

var errIsSelf = errors.New("is this client itself, not the application")

// path resolves the application's binary. It is called only when a
// server must be started or the command runs directly, so the PATH
// search and the stat calls are not paid by a call that finds a server.
func (a *app) path() (string, error) {
	if a.found != "" {
		return a.found, nil
	}
	self := selfFile()
	if strings.Contains(a.spec, "/") {
		p, err := filepath.Abs(a.spec)
		if err != nil {
			return "", fmt.Errorf("finding %s: %w", a.spec, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("finding the application: %w", err)
		}
		if self != nil && os.SameFile(fi, self) {
			return "", fmt.Errorf("%s %w", p, errIsSelf)
		}
		a.found = p
		return p, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, a.spec)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		if self != nil && os.SameFile(fi, self) {
			continue // the symlink that invoked us, or another link to us
		}
		if p, err = filepath.Abs(p); err != nil {
			continue
		}
		a.found = p
		return p, nil
	}
	return "", fmt.Errorf("%s not found in PATH (besides links to %s)", a.spec, selfName)
}

// selfFile is this client's own executable, to be skipped when looking
// for the application (nil when it cannot be told).
func selfFile() os.FileInfo {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil
	}
	return fi
}

// execDirect replaces this process with the application run directly, its
// own client mode off (the server could not be used: it would only try
// again). It returns only when that fails.
func (a *app) execDirect(args []string) int {
	p, err := a.path()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: abort: %v\n", selfName, err)
		return 255
	}
	// Set, not appended: the application keeps the first copy of a name,
	// and an inherited CMDSRV_CLIENT=auto would make it try a server again.
	env := envlist.Set(os.Environ(), chgclient.ClientEnv, "off")
	err = execve(p, append([]string{a.argv0}, args...), env)
	fmt.Fprintf(os.Stderr, "%s: abort: running %s: %v\n", selfName, p, err)
	return 255
}
