package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// buildOneshot builds ./oneshot, this module's non-Reusable application,
// without cgo into the work directory.
func buildOneshot(cfg *config) (string, error) {
	dir, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/cmdsrv/cmdsrv/cmd/cmdsrv-bench/oneshot").Output()
	if err != nil {
		return "", fmt.Errorf("finding ./oneshot (run from cmd/cmdsrv-bench): %w", err)
	}
	out := filepath.Join(cfg.workDir, "oneshot")
	build := exec.Command("go", "build", "-o", out, ".")
	build.Dir = strings.TrimSpace(string(dir))
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building oneshot: %w\n%s", err, b)
	}
	return out, nil
}

// burstMeasurement times n calls of c in a row, with no pause, after an
// untimed pause that lets the pool refill: seconds per call.
func burstMeasurement(c caller, name, baseline string, n int) measurement {
	return measurement{name: name, baseline: baseline, start: func() (func() (float64, error), func(), error) {
		for i := 0; i < 2; i++ { // starts the server
			if err := c.call(); err != nil {
				return nil, nil, err
			}
		}
		return func() (float64, error) {
			time.Sleep(300 * time.Millisecond)
			return perOp(n, c.call)
		}, func() {}, nil
	}}
}

// benchOneshot: a non-Reusable application (every client uses up a
// worker, which the pool replaces) with 40 ms of package init, called
// back to back (10 calls in a row) and spaced (one call every 100 ms):
// its plain run, through cmdsrv-chg and through chg, all against the
// same server.
func benchOneshot(cfg *config) ([]row, error) {
	const group = "11 non-Reusable app with 40 ms start"
	const plainSpaced, plainBurst = "plain run, spaced", "plain run, back to back"
	rounds := 15
	if cfg.quick {
		rounds = 5
	}
	app, err := buildOneshot(cfg)
	if err != nil {
		return nil, err
	}
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(socketDir(cfg, "one11"), "s")
	env := append(os.Environ(), "CHGHG="+app, "CHGSOCKNAME="+sock, "CMDSRV_SOCKNAME="+sock, "CMDSRV_APP="+app)
	echo := []string{"echo", "hi"}
	plain := caller{name: "plain", path: app, args: echo, env: append(env, "CMDSRV_CLIENT=off")}
	clients := []caller{{name: "cmdsrv-chg", path: thin, args: echo, env: env}}
	if cfg.chg != "" {
		clients = append(clients, caller{name: "chg", path: cfg.chg, args: echo, env: env})
	}
	const burst = 10
	ms := []measurement{
		withName(callMeasurement(plain, "", 100*time.Millisecond), plainSpaced, ""),
		burstMeasurement(plain, plainBurst, "", burst),
	}
	for _, c := range clients {
		ms = append(ms,
			withName(callMeasurement(c, "", 100*time.Millisecond), c.name+", spaced", plainSpaced),
			burstMeasurement(c, c.name+", back to back", plainBurst, burst))
	}
	rows, err := interleavedRows(group, "", rounds, ms)
	if err != nil {
		return nil, err
	}
	if cfg.chg == "" {
		rows = append(rows, na(group, "chg, spaced", plainSpaced, "chg not installed"),
			na(group, "chg, back to back", plainBurst, "chg not installed"))
	}
	return rows, nil
}

func withName(m measurement, name, baseline string) measurement {
	m.name, m.baseline = name, baseline
	return m
}
