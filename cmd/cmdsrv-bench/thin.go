package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// buildStatic builds the main package pkg of the cmdsrv module without cgo into
// the work directory.
func buildStatic(cfg *config, pkg, name string) (string, error) {
	out := filepath.Join(cfg.workDir, name)
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Dir = cfg.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// buildHello builds the smallest static Go program that writes a line:
// the floor of any client written in Go.
func buildHello(cfg *config) (string, error) {
	dir := filepath.Join(cfg.workDir, "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, "main.go")
	prog := "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.Write([]byte(\"hi\\n\")) }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", out, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building hello: %w\n%s", err, b)
	}
	return out, nil
}

// callMeasurement times one call of c after an untimed pause, so that
// every row of the group waits alike; its start makes two untimed calls
// (starting servers, filling pools).
func callMeasurement(c caller, baseline string, pause time.Duration) measurement {
	once := func() (float64, error) {
		time.Sleep(pause)
		start := time.Now()
		if err := c.call(); err != nil {
			return 0, err
		}
		return time.Since(start).Seconds(), nil
	}
	return measurement{name: c.name, baseline: baseline, start: func() (func() (float64, error), func(), error) {
		for i := 0; i < 2; i++ {
			if _, err := once(); err != nil {
				return nil, nil, err
			}
		}
		return once, func() {}, nil
	}}
}

// benchThin: an application whose start-up is 30 ms of package init
// (examples/slowinit, a reusable Handler), one call at a time 50 ms
// apart: run directly, through its own client mode, through the thin
// client cmd/cmdsrv-chg and through Mercurial's chg, all four against the
// same server (one socket, one environment), next to the smallest static
// Go program.
func benchThin(cfg *config) ([]row, error) {
	const group = "10 app with 30 ms package init, one call"
	const chgRow = "chg (Mercurial's C client)"
	rounds := 40
	if cfg.quick {
		rounds = 10
	}
	app, err := buildStatic(cfg, "./examples/slowinit", "slowinit")
	if err != nil {
		return nil, err
	}
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	hello, err := buildHello(cfg)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(socketDir(cfg, "thin9"), "s")
	// One environment for every client, CHGHG included (chg's server
	// hashes it), so that all of them agree with the server's hashes.
	env := append(os.Environ(), "CHGHG="+app, "CHGSOCKNAME="+sock, "CMDSRV_SOCKNAME="+sock, "CMDSRV_APP="+app)
	echo := []string{"echo", "hi"}
	callers := []caller{
		{name: "smallest static Go program (floor of a Go client)", path: hello, env: env},
		{name: "direct", path: app, args: echo, env: append(env, "CMDSRV_CLIENT=off")},
		{name: "own client mode (CMDSRV_CLIENT=auto)", path: app, args: echo, env: append(env, "CMDSRV_CLIENT=auto")},
		{name: "thin client (cmdsrv-chg)", path: thin, args: echo, env: env},
	}
	if cfg.chg != "" {
		callers = append(callers, caller{name: chgRow, path: cfg.chg, args: echo, env: env})
	}
	ms := make([]measurement, len(callers))
	for i, c := range callers {
		ms[i] = callMeasurement(c, chgRow, 50*time.Millisecond)
	}
	rows, err := interleavedRows(group, "", rounds, ms)
	if err != nil {
		return nil, err
	}
	if cfg.chg == "" {
		rows = append(rows, na(group, chgRow, "", "chg not installed"))
	}
	return rows, nil
}
