package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// caller runs one command line as a new process, the way a user at a shell
// prompt does.
type caller struct {
	name string
	path string
	args []string
	env  []string
}

func (c caller) call() error {
	cmd := exec.Command(c.path, c.args...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w\n%s", c.path, c.args, err, out)
	}
	return nil
}

// perCall returns the median seconds per call of n calls, each after an
// untimed pause (so pools can refill), after warm-up calls.
func perCall(cfg *config, c caller, n int, pause time.Duration) (float64, error) {
	for i := 0; i < 2; i++ { // warm-up: starts servers
		if err := c.call(); err != nil {
			return 0, err
		}
	}
	return median(cfg.reps, func() (float64, error) {
		var total time.Duration
		for i := 0; i < n; i++ {
			time.Sleep(pause)
			start := time.Now()
			if err := c.call(); err != nil {
				return 0, err
			}
			total += time.Since(start)
		}
		return total.Seconds() / float64(n), nil
	})
}

// socketDir returns a fresh directory for one set of chg sockets; removing
// it at the end makes the servers exit.
func socketDir(cfg *config, name string) string {
	d := filepath.Join(cfg.workDir, name)
	_ = os.MkdirAll(d, 0o700)
	return d
}

func chgCmdsrv(cfg *config, name string, extraEnv []string, args ...string) caller {
	env := append(os.Environ(), "CHGHG="+cfg.cmdsrv, "CHGSOCKNAME="+filepath.Join(socketDir(cfg, name), "s"))
	return caller{name: "chg + cmdsrv", path: cfg.chg, args: args, env: append(env, extraEnv...)}
}

func ownClient(cfg *config, name string, extraEnv []string, args ...string) caller {
	env := append(os.Environ(), "CMDSRV_CLIENT=auto", "CMDSRV_SOCKNAME="+filepath.Join(socketDir(cfg, name), "s"))
	return caller{name: "cmdsrv client mode", path: cfg.cmdsrv, args: args, env: append(env, extraEnv...)}
}

func chgHg(cfg *config, name string) caller {
	env := append(cfg.hgEnv, "CHGHG="+cfg.hg, "CHGSOCKNAME="+filepath.Join(socketDir(cfg, name), "s"))
	return caller{name: "chg + hg", path: cfg.chg, args: []string{"version", "-q"}, env: env}
}

// benchChg: end-to-end `chg echo hi` against cmdsrv, next to the cold
// binary and to chg in front of Mercurial.
func benchChg(cfg *config) ([]row, error) {
	const group = "5 end-to-end call"
	n := 30
	if cfg.quick {
		n = 5
	}
	var rows []row
	direct := caller{path: cfg.cmdsrv, args: []string{"echo", "hi"}, env: os.Environ()}
	v, err := perCall(cfg, direct, n, 0)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "cmdsrv echo hi (direct, cold process)", value: v, baseline: "cmdsrv echo hi (direct, cold process)"})
	if cfg.chg != "" {
		v, err = perCall(cfg, chgCmdsrv(cfg, "chg5", nil, "echo", "hi"), n, 30*time.Millisecond)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{group: group, name: "chg echo hi (chg + cmdsrv)", value: v, baseline: "cmdsrv echo hi (direct, cold process)"})
	} else {
		rows = append(rows, na(group, "chg echo hi (chg + cmdsrv)", "", "chg not installed"))
	}
	v, err = perCall(cfg, ownClient(cfg, "own5", nil, "echo", "hi"), n, 30*time.Millisecond)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "CMDSRV_CLIENT=auto cmdsrv echo hi (own client)", value: v, baseline: "cmdsrv echo hi (direct, cold process)"})
	if cfg.chg != "" && cfg.hg != "" {
		v, err = perCall(cfg, chgHg(cfg, "hg5"), n, 30*time.Millisecond)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{group: group, name: "chg version -q (chg + hg)", value: v, baseline: "cmdsrv echo hi (direct, cold process)"})
	} else {
		rows = append(rows, na(group, "chg version -q (chg + hg)", "", "hg or chg not installed"))
	}
	return rows, nil
}

// slowEnv makes the reference handler's constructor take 200 ms.
var slowEnv = []string{"CMDSRV_DEBUG_INIT_DELAY=200ms"}

// benchExpensive: per-command time of an application with a 200 ms
// constructor, run directly and through chg (a warm worker waiting).
func benchExpensive(cfg *config) ([]row, error) {
	const group = "7 app with 200 ms start-up, one call"
	n := 10
	if cfg.quick {
		n = 3
	}
	direct := caller{path: cfg.cmdsrv, args: []string{"echo", "hi"}, env: append(os.Environ(), slowEnv...)}
	d, err := perCall(cfg, direct, n, 0)
	if err != nil {
		return nil, err
	}
	rows := []row{{group: group, name: "direct", value: d, baseline: "direct"}}
	if cfg.chg != "" {
		v, err := perCall(cfg, chgCmdsrv(cfg, "chg7", slowEnv, "echo", "hi"), n, 400*time.Millisecond)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{group: group, name: "chg + cmdsrv (warm pool)", value: v, baseline: "direct"})
	}
	v, err := perCall(cfg, ownClient(cfg, "own7", slowEnv, "echo", "hi"), n, 400*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return append(rows, row{group: group, name: "own client mode (warm pool)", value: v, baseline: "direct"}), nil
}

// benchLoop: the same application called 100 times back to back, as a
// shell loop does.
func benchLoop(cfg *config) ([]row, error) {
	calls := 100
	if cfg.quick {
		calls = 10
	}
	group := fmt.Sprintf("8 app with 200 ms start-up, %d calls back to back", calls)
	loop := func(c caller) (float64, error) {
		if err := c.call(); err != nil { // start the server
			return 0, err
		}
		return median(cfg.reps, func() (float64, error) {
			start := time.Now()
			for i := 0; i < calls; i++ {
				if err := c.call(); err != nil {
					return 0, err
				}
			}
			return float64(calls) / time.Since(start).Seconds(), nil
		})
	}
	var rows []row
	add := func(name string, c caller) error {
		v, err := loop(c)
		if err != nil {
			return err
		}
		rows = append(rows, row{group: group, name: name, value: v, unit: "calls", baseline: "chg + hg (warm fork per call)"})
		return nil
	}
	if cfg.chg != "" && cfg.hg != "" {
		if err := add("chg + hg (warm fork per call)", chgHg(cfg, "hg8")); err != nil {
			return nil, err
		}
	} else {
		rows = append(rows, na(group, "chg + hg (warm fork per call)", "", "hg or chg not installed"))
	}
	direct := caller{path: cfg.cmdsrv, args: []string{"echo", "hi"}, env: append(os.Environ(), slowEnv...)}
	if err := add("direct", direct); err != nil {
		return nil, err
	}
	// The default configuration reuses workers (the reference Handler is
	// Reusable); worker-reuse 1 is one client per worker, as before.
	reuse1 := []string{"--config", "cmdserver.worker-reuse=1", "echo", "hi"}
	if cfg.chg != "" {
		if err := add("chg + cmdsrv, default config", chgCmdsrv(cfg, "chg8a", slowEnv, "echo", "hi")); err != nil {
			return nil, err
		}
		if err := add("chg + cmdsrv, worker-reuse 1", chgCmdsrv(cfg, "chg8b", slowEnv, reuse1...)); err != nil {
			return nil, err
		}
	}
	if err := add("own client, default config", ownClient(cfg, "own8a", slowEnv, "echo", "hi")); err != nil {
		return nil, err
	}
	if err := add("own client, worker-reuse 1", ownClient(cfg, "own8b", slowEnv, reuse1...)); err != nil {
		return nil, err
	}
	return rows, nil
}
