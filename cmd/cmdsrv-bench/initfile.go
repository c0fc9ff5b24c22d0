package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// benchInitFile: oneshot (40 ms of package initialisation) reads
// $ONESHOT_CONF as it initialises (Program.InitFiles). In each mode, a
// warm call, and a call 1 s after the file was rewritten (its answer must
// be the new content), next to the plain run.
func benchInitFile(cfg *config) ([]row, error) {
	const group = "18 a file read at package initialisation, 40 ms start: a call 1 s after it changed"
	const plainName = "plain run"
	rounds := cfg.reps
	app, err := buildOneshot(cfg)
	if err != nil {
		return nil, err
	}
	thin, err := buildStatic(cfg, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(cfg.workDir, "oneshot.conf")
	if err := os.WriteFile(conf, []byte("c0\n"), 0o644); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "ONESHOT_CONF="+conf)
	env = env[:len(env):len(env)] // each append below copies
	ctx := context.Background()

	type mode struct {
		name string
		call func() (string, error)
	}
	var modes []mode
	pipeCmd := exec.Command(app, "serve", "--cmdserver", "pipe")
	pipeCmd.Env = env
	pc, err := client.StartCommand(pipeCmd)
	if err != nil {
		return nil, fmt.Errorf("pipe server: %w", err)
	}
	defer pc.Close()
	modes = append(modes, mode{"pipe server (client package)", func() (string, error) { return runOut(ctx, pc, "conf") }})
	addr := filepath.Join(cfg.workDir, "initfile.sock")
	ucmd := exec.Command(app, "serve", "--cmdserver", "unix", "--address", addr)
	ucmd.Env = env
	us, err := startServerCmd(ucmd, addr)
	if err != nil {
		return nil, fmt.Errorf("unix service: %w", err)
	}
	defer us.stop()
	modes = append(modes, mode{"unix service (client package)", func() (string, error) {
		c, err := client.Dial(ctx, addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return runOut(ctx, c, "conf")
	}})
	sock := filepath.Join(socketDir(cfg, "initfile"), "s")
	chgEnv := append(env, "CHGHG="+app, "CHGSOCKNAME="+sock, "CMDSRV_SOCKNAME="+sock, "CMDSRV_APP="+app)
	defer func() {
		_ = exec.Command(app, "serve", "--cmdserver", "chgunix", "--address", sock, "--stop").Run()
		os.RemoveAll(filepath.Dir(sock))
	}()
	modes = append(modes,
		mode{"own client mode", caller{path: app, args: []string{"conf"}, env: append(chgEnv[:len(chgEnv):len(chgEnv)], "CMDSRV_CLIENT=auto")}.output},
		mode{"thin client (cmdsrv-chg)", caller{path: thin, args: []string{"conf"}, env: chgEnv}.output})
	if cfg.chg != "" {
		modes = append(modes, mode{"chg (Mercurial's C client)", caller{path: cfg.chg, args: []string{"conf"}, env: chgEnv}.output})
	}
	plain := caller{path: app, args: []string{"conf"}, env: append(env, "CMDSRV_CLIENT=off")}

	timedCall := func(call func() (string, error), want string) (float64, error) {
		start := time.Now()
		got, err := call()
		elapsed := time.Since(start).Seconds()
		if err == nil && want != "" && got != want {
			err = fmt.Errorf("stale answer %q, the file holds %q", got, want)
		}
		return elapsed, err
	}
	plainT, err := median(rounds, func() (float64, error) { return timedCall(plain.output, "") })
	if err != nil {
		return nil, fmt.Errorf("plain run: %w", err)
	}
	rows := []row{{group: group, name: plainName, value: plainT, baseline: plainName}}
	seq := 0
	for _, m := range modes {
		if _, err := m.call(); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		// Both calls wait as long before them: an idle process's first
		// call pays its wake-up either way.
		warm, err := median(rounds, func() (float64, error) {
			time.Sleep(1500 * time.Millisecond)
			return timedCall(m.call, "")
		})
		if err != nil {
			return nil, fmt.Errorf("%s warm: %w", m.name, err)
		}
		late, err := median(rounds, func() (float64, error) {
			seq++
			want := fmt.Sprintf("c%d\n", seq)
			if err := replaceFile(conf, []byte(want), seq%2 == 0); err != nil {
				return 0, err
			}
			time.Sleep(time.Second)
			v, err := timedCall(m.call, want)
			time.Sleep(500 * time.Millisecond) // the next start settles
			return v, err
		})
		if err != nil {
			return nil, fmt.Errorf("%s after a change: %w", m.name, err)
		}
		base := m.name + ": warm, no change"
		rows = append(rows,
			row{group: group, name: base, value: warm, baseline: base},
			row{group: group, name: m.name + ": 1 s after a change", value: late, baseline: base, note: fmt.Sprintf("%.2fx the time of the warm call", late/warm)})
	}
	return rows, nil
}
