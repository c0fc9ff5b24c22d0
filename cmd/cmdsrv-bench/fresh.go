package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// The fresh group: warm state that follows the files and the binary it was
// built from (issue "Warm and never stale"). The reference binary reads
// $CMDSRV_DEBUG_INIT_FILE in its constructor (after
// $CMDSRV_DEBUG_INIT_DELAY) and `debuginitfile` prints what it read.

// output runs the command line as a new process and returns its stdout.
func (c caller) output() (string, error) {
	cmd := exec.Command(c.path, c.args...)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %v: %w\n%s", c.path, c.args, err, stderr.Bytes())
	}
	return string(out), nil
}

// replaceFile writes data to path the way a change is made: alternately
// rewritten in place and saved by rename (an editor's save).
func replaceFile(path string, data []byte, byRename bool) error {
	return replaceFileMode(path, data, byRename, 0o644)
}

func replaceFileMode(path string, data []byte, byRename bool, mode os.FileMode) error {
	if !byRename {
		return os.WriteFile(path, data, mode)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// freshModes are the ways a call reaches a warm server of the reference
// binary, each returning what debuginitfile printed. env holds the
// server's CMDSRV_DEBUG_INIT_* settings. Each mode's close ends its
// server.
type freshMode struct {
	name  string
	call  func() (string, error)
	close func()
}

func freshModes(cfg *config, tag string, env []string, thin string) ([]freshMode, error) {
	var modes []freshMode
	ctx := context.Background()

	pipeCmd := exec.Command(cfg.cmdsrv, "serve", "--cmdserver", "pipe")
	pipeCmd.Env = append(os.Environ(), env...)
	pc, err := client.StartCommand(pipeCmd)
	if err != nil {
		return nil, fmt.Errorf("pipe server: %w", err)
	}
	modes = append(modes, freshMode{name: "pipe server (client package)", call: func() (string, error) {
		return runOut(ctx, pc, "debuginitfile")
	}, close: func() { pc.Close() }})

	us, err := startUnix(cfg, "fresh-"+tag+".sock", env)
	if err != nil {
		return nil, fmt.Errorf("unix server: %w", err)
	}
	modes = append(modes, freshMode{name: "unix service (client package)", call: func() (string, error) {
		c, err := client.Dial(ctx, us.addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return runOut(ctx, c, "debuginitfile")
	}, close: us.stop})

	// The chgunix clients share one server (one socket, one environment).
	sock := filepath.Join(socketDir(cfg, "fresh-"+tag), "s")
	chgEnv := append(append(os.Environ(), env...), "CHGHG="+cfg.cmdsrv, "CHGSOCKNAME="+sock, "CMDSRV_SOCKNAME="+sock, "CMDSRV_APP="+cfg.cmdsrv)
	stopChg := func() { stopSocketServer(cfg, sock) }
	modes = append(modes,
		freshMode{name: "own client mode", call: caller{path: cfg.cmdsrv, args: []string{"debuginitfile"}, env: append(chgEnv, "CMDSRV_CLIENT=auto")}.output},
		freshMode{name: "thin client (cmdsrv-chg)", call: caller{path: thin, args: []string{"debuginitfile"}, env: chgEnv}.output})
	if cfg.chg != "" {
		modes = append(modes, freshMode{name: "chg (Mercurial's C client)", call: caller{path: cfg.chg, args: []string{"debuginitfile"}, env: chgEnv}.output})
	}
	modes[len(modes)-1].close = stopChg
	return modes, nil
}

// stopSocketServer asks the chgunix server at sock to stop, if the
// command supports it, and removes its socket directory either way (a
// chg server exits when its socket is gone).
func stopSocketServer(cfg *config, sock string) {
	_ = exec.Command(cfg.cmdsrv, "serve", "--cmdserver", "chgunix", "--address", sock, "--stop").Run()
	os.RemoveAll(filepath.Dir(sock))
}

func runOut(ctx context.Context, c *client.Client, args ...string) (string, error) {
	var out bytes.Buffer
	code, err := c.RunCommand(ctx, args, &client.RunOptions{Stdout: &out})
	if err == nil && code != 0 {
		err = fmt.Errorf("%v exited %d", args, code)
	}
	return out.String(), err
}

// benchFreshStale: change then call, alternately in place and by rename,
// in every mode: how many calls answered from the state before the
// change.
func benchFreshStale(cfg *config) ([]row, error) {
	const group = "13 never stale: change, then call at once"
	n := 200
	if cfg.quick {
		n = 20
	}
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.workDir, "fresh-stale.txt")
	if err := os.WriteFile(path, []byte("v-start\n"), 0o644); err != nil {
		return nil, err
	}
	modes, err := freshModes(cfg, "stale", []string{"CMDSRV_DEBUG_INIT_FILE=" + path}, thin)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, m := range modes {
		if _, err := m.call(); err != nil { // starts the server
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		stale := 0
		for i := 0; i < n; i++ {
			want := fmt.Sprintf("v%d %s\n", i, strings.Repeat("x", i%3))
			if err := replaceFile(path, []byte(want), i%2 == 1); err != nil {
				return nil, err
			}
			got, err := m.call()
			if err != nil {
				return nil, fmt.Errorf("%s: call %d: %w", m.name, i, err)
			}
			if got != want {
				stale++
			}
		}
		rows = append(rows, row{group: group, name: m.name, value: float64(stale), unit: "count",
			note: fmt.Sprintf("stale answers in %d alternations (target 0)", n)})
	}
	for _, m := range modes {
		if m.close != nil {
			m.close()
		}
	}
	return rows, nil
}

// benchFreshRebuild: a Handler whose constructor takes 300 ms, a call 1 s
// after a change of its file and a call 10 ms after one, next to a warm
// call without a change; and chg in front of hg, whose server checks its
// extension files' mtimes and starts a new server on demand.
func benchFreshRebuild(cfg *config) ([]row, error) {
	const group = "14 300 ms constructor: a call after a change"
	const ctor = 300 * time.Millisecond
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.workDir, "fresh-rebuild.txt")
	if err := os.WriteFile(path, []byte("r-start\n"), 0o644); err != nil {
		return nil, err
	}
	env := []string{"CMDSRV_DEBUG_INIT_FILE=" + path, "CMDSRV_DEBUG_INIT_DELAY=" + ctor.String()}
	modes, err := freshModes(cfg, "rebuild", env, thin)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, m := range modes {
			if m.close != nil {
				m.close()
			}
		}
	}()
	var rows []row
	seq := 0
	afterChange := func(m freshMode, wait time.Duration) (float64, error) {
		seq++
		want := fmt.Sprintf("r%d\n", seq)
		if err := replaceFile(path, []byte(want), seq%2 == 0); err != nil {
			return 0, err
		}
		time.Sleep(wait)
		start := time.Now()
		got, err := m.call()
		elapsed := time.Since(start)
		if err != nil {
			return 0, err
		}
		if got != want {
			return 0, fmt.Errorf("%s: stale answer %q after writing %q", m.name, got, want)
		}
		// Let the background rebuild of any other generation settle
		// before the next measurement.
		time.Sleep(ctor + 200*time.Millisecond)
		return elapsed.Seconds(), nil
	}
	for _, m := range modes {
		if _, err := m.call(); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		// The warm call waits as long before it as the call 1 s after a
		// change does (the settling after the previous one, then the
		// second): an idle process's first call pays its wake-up (parked
		// threads, cold caches) either way, and the ratio is the change's.
		warm, err := median(cfg.reps, func() (float64, error) {
			time.Sleep(ctor + 200*time.Millisecond + time.Second)
			start := time.Now()
			_, err := m.call()
			return time.Since(start).Seconds(), err
		})
		if err != nil {
			return nil, fmt.Errorf("%s warm: %w", m.name, err)
		}
		late, err := median(cfg.reps, func() (float64, error) { return afterChange(m, time.Second) })
		if err != nil {
			return nil, err
		}
		soon, err := median(cfg.reps, func() (float64, error) { return afterChange(m, 10*time.Millisecond) })
		if err != nil {
			return nil, err
		}
		base := m.name + ": warm, no change"
		rows = append(rows,
			row{group: group, name: base, value: warm, baseline: base},
			row{group: group, name: m.name + ": 1 s after a change", value: late, baseline: base, note: ratioNote(late, warm, "target ≤ 1.5x")},
			row{group: group, name: m.name + ": 10 ms after a change", value: soon, baseline: base,
				note: fmt.Sprintf("%.2fx of constructor + warm call (target ≤ 1x)", soon/(ctor.Seconds()+warm))})
	}
	hgRows, err := chgHgAfterChange(cfg, group)
	if err != nil {
		return nil, err
	}
	return append(rows, hgRows...), nil
}

func ratioNote(v, base float64, target string) string {
	return fmt.Sprintf("%.2fx the time of the warm call (%s)", v/base, target)
}

// chgHgAfterChange: chg in front of hg with one extension; touching the
// extension's file makes chg's server unlink itself, and the next call
// starts a new server.
func chgHgAfterChange(cfg *config, group string) ([]row, error) {
	const base = "chg + hg: warm, no change"
	const changed = "chg + hg: 1 s after its extension file changed"
	if cfg.chg == "" || cfg.hg == "" {
		return []row{na(group, base, base, "chg not installed"), na(group, changed, base, "chg not installed")}, nil
	}
	ext := filepath.Join(cfg.workDir, "benchext.py")
	if err := os.WriteFile(ext, []byte("# a cmdsrv-bench extension: nothing\n"), 0o644); err != nil {
		return nil, err
	}
	rc := filepath.Join(cfg.workDir, "benchext.rc")
	if err := os.WriteFile(rc, []byte("[extensions]\nbenchext = "+ext+"\n"), 0o644); err != nil {
		return nil, err
	}
	c := chgHg(cfg, "fresh-hg")
	c.env = append(c.env, "HGRCPATH="+rc)
	if err := c.call(); err != nil {
		return nil, err
	}
	warm, err := median(cfg.reps, func() (float64, error) {
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		err := c.call()
		return time.Since(start).Seconds(), err
	})
	if err != nil {
		return nil, err
	}
	n := 0
	late, err := median(cfg.reps, func() (float64, error) {
		n++
		if err := os.WriteFile(ext, []byte(fmt.Sprintf("# a cmdsrv-bench extension: change %d\n", n)), 0o644); err != nil {
			return 0, err
		}
		time.Sleep(time.Second)
		start := time.Now()
		err := c.call()
		return time.Since(start).Seconds(), err
	})
	if err != nil {
		return nil, err
	}
	return []row{
		{group: group, name: base, value: warm, baseline: base},
		{group: group, name: changed, value: late, baseline: base, note: ratioNote(late, warm, "a new server on demand")},
	}, nil
}

// benchFreshBinary: the binary replaced by a new build (here: a copy of
// itself written over it by rename, a new file with a new mtime), then a
// call 1 s later, through the clients of a chgunix server, next to a warm
// call without a change.
func benchFreshBinary(cfg *config) ([]row, error) {
	const group = "15 binary replaced: a call 1 s later"
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(cfg.cmdsrv)
	if err != nil {
		return nil, err
	}
	dir := socketDir(cfg, "fresh-bin-app")
	app := filepath.Join(dir, "app")
	if err := os.WriteFile(app, src, 0o755); err != nil {
		return nil, err
	}
	sock := filepath.Join(socketDir(cfg, "fresh-bin"), "s")
	env := append(os.Environ(), "CHGHG="+app, "CHGSOCKNAME="+sock, "CMDSRV_SOCKNAME="+sock, "CMDSRV_APP="+app)
	defer stopSocketServer(&config{cmdsrv: app}, sock)
	callers := []caller{
		{name: "own client mode", path: app, args: []string{"true"}, env: append(env, "CMDSRV_CLIENT=auto")},
		{name: "thin client (cmdsrv-chg)", path: thin, args: []string{"true"}, env: env},
	}
	if cfg.chg != "" {
		callers = append(callers, caller{name: "chg (Mercurial's C client)", path: cfg.chg, args: []string{"true"}, env: env})
	}
	var rows []row
	n := 0
	for _, c := range callers {
		if err := c.call(); err != nil {
			return nil, err
		}
		warm, err := median(cfg.reps, func() (float64, error) {
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			err := c.call()
			return time.Since(start).Seconds(), err
		})
		if err != nil {
			return nil, err
		}
		late, err := median(cfg.reps, func() (float64, error) {
			n++
			if err := replaceFileMode(app, src, true, 0o755); err != nil {
				return 0, err
			}
			time.Sleep(time.Second)
			start := time.Now()
			err := c.call()
			elapsed := time.Since(start).Seconds()
			// Any cold start it paid has left a server to settle.
			time.Sleep(300 * time.Millisecond)
			return elapsed, err
		})
		if err != nil {
			return nil, err
		}
		base := c.name + ": warm, no change"
		rows = append(rows,
			row{group: group, name: base, value: warm, baseline: base},
			row{group: group, name: c.name + ": 1 s after the binary was replaced", value: late, baseline: base, note: ratioNote(late, warm, "target ≤ 1.5x")})
	}
	if cfg.chg == "" {
		rows = append(rows, na(group, "chg (Mercurial's C client)", "", "chg not installed"))
	}
	return rows, nil
}

// benchFreshCheck: what the check before every command costs: a pipe
// round trip of `true` on a Handler that declared 10 files, next to one
// that declared none; and what watching costs an idle server: its
// context switches per second with and without watched files.
func benchFreshCheck(cfg *config) ([]row, error) {
	const group = "16 the check before every command, and idle watches"
	n := 2000
	if cfg.quick {
		n = 200
	}
	var deps []string
	for i := 0; i < 10; i++ {
		p := filepath.Join(cfg.workDir, fmt.Sprintf("dep%02d.conf", i))
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			return nil, err
		}
		// A configuration file last written an hour ago, as most are:
		// one written within the last 2 s cannot be told from a rewrite
		// by its stat, and its content is hashed on every check until
		// then (internal/fresh, racyWindow).
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			return nil, err
		}
		deps = append(deps, p)
	}
	withDeps := []string{"CMDSRV_DEBUG_INIT_DEPS=" + strings.Join(deps, string(os.PathListSeparator))}
	start := func(env []string) (*client.Client, error) {
		cmd := exec.Command(cfg.cmdsrv, "serve", "--cmdserver", "pipe")
		cmd.Env = append(os.Environ(), env...)
		return client.StartCommand(cmd)
	}
	plain, err := start(nil)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	checked, err := start(withDeps)
	if err != nil {
		return nil, err
	}
	defer checked.Close()
	// Taken in turn, so that both sample the same moments of the machine.
	var v0, v10 []float64
	for r := 0; r < cfg.reps; r++ {
		a, err := perOp(n, func() error { return runOK(plain, "true") })
		if err != nil {
			return nil, err
		}
		b, err := perOp(n, func() error { return runOK(checked, "true") })
		if err != nil {
			return nil, err
		}
		v0, v10 = append(v0, a), append(v10, b)
	}
	m0, m10 := medianOf(v0), medianOf(v10)
	const base = "pipe round trip of true, no dependencies"
	rows := []row{
		{group: group, name: base, value: m0, baseline: base},
		{group: group, name: "pipe round trip of true, 10 dependencies checked", value: m10, baseline: base,
			note: fmt.Sprintf("%+.1f µs per call (target ≤ +20 µs)", (m10-m0)*1e6)},
	}

	quiet := 10 * time.Second
	if cfg.quick {
		quiet = 3 * time.Second
	}
	for _, s := range []struct {
		name string
		c    *client.Client
	}{{"idle pipe server, nothing watched", plain}, {"idle pipe server, 10 files watched", checked}} {
		pid := s.c.Process().Pid
		sw0 := procSwitches(pid)
		time.Sleep(quiet)
		rows = append(rows, row{group: group, name: s.name + ": context switches per second", unit: "wakeups",
			value: float64(procSwitches(pid)-sw0) / quiet.Seconds(), note: fmt.Sprintf("over %s", quiet)})
	}
	for _, s := range []struct {
		name string
		env  []string
	}{{"idle unix master, nothing watched", nil}, {"idle unix master, 10 files watched", withDeps}} {
		srv, err := startUnix(cfg, fmt.Sprintf("fresh-idle-%d.sock", len(rows)), s.env)
		if err != nil {
			return nil, err
		}
		if err := oneCall(srv.addr); err != nil {
			srv.stop()
			return nil, err
		}
		// The pool at its floor, as the pool group's idle row.
		time.Sleep(spareIdleTimeout + 2*time.Second)
		if cfg.quick {
			time.Sleep(time.Second)
		}
		pid := srv.cmd.Process.Pid
		sw0 := procSwitches(pid)
		time.Sleep(quiet)
		rows = append(rows, row{group: group, name: s.name + ": context switches per second", unit: "wakeups",
			value: float64(procSwitches(pid)-sw0) / quiet.Seconds(), note: fmt.Sprintf("over %s, the pool at its floor", quiet)})
		srv.stop()
	}
	return rows, nil
}

func medianOf(vals []float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	return s[len(s)/2]
}
