//go:build unix

package cmdsrv

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
	"github.com/cmdsrv/cmdsrv/internal/procstat"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// restartSignal makes a running unix or chgunix server hand over to its
// binary's current build (serve --restart): tableflip's signal.
const restartSignal = syscall.SIGUSR2

// controlWait bounds how long --stop waits for the server's busy
// commands, and --restart for the new image.
const controlWait = 60 * time.Second

// control runs serve --status, --stop and --restart against the server
// at --address; for --cmdserver chgunix the address defaults to the
// socket the own client mode and cmdsrv-chg use, so that
// `APP serve --cmdserver chgunix --status` finds the server APP's own
// calls go to.
func (p *Program) control(o serverArgs) int {
	what := "--status"
	switch {
	case o.stop:
		what = "--stop"
	case o.restart:
		what = "--restart"
	}
	if o.mode != "unix" && o.mode != "chgunix" {
		return p.abort("%s needs --cmdserver unix or chgunix", what)
	}
	addr := o.address
	if addr == "" {
		if o.mode != "chgunix" {
			return p.abort("%s needs --address (only chgunix has a default: the own client's socket)", what)
		}
		var err error
		if addr, err = (&chgclient.App{Name: p.Name}).SocketPath(); err != nil {
			return p.abort("%v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st, confirmed, err := unixfork.ConfirmedStatus(ctx, addr)
	cancel()
	if errors.Is(err, unixfork.ErrNoServer) {
		// No socket file, or a stale one (nothing listens on it).
		fmt.Fprintf(p.Stderr, "%s: %v\n", p.Name, err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(p.Stderr, "%s: no server answers at %s: %v\n", p.Name, addr, err)
		return 1
	}
	if (o.stop || o.restart) && st.PID > 0 && !confirmed {
		// Only a pid the kernel ties to the socket is signalled.
		return p.abort("cannot confirm that pid %d serves %s: not signalling it", st.PID, addr)
	}
	switch {
	case o.stop:
		return p.stopServer(addr, st)
	case o.restart:
		return p.restartServer(addr, st)
	}
	if err := st.Format(p.Stdout); err != nil {
		return p.abort("writing status: %v", err)
	}
	return 0
}

// stopServer ends the server of st (SIGTERM: busy workers finish their
// commands) and waits until its process is gone.
func (p *Program) stopServer(addr string, st *unixfork.Status) int {
	if st.PID <= 0 {
		return p.abort("the server at %s does not say its pid (an older version?)", addr)
	}
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
		return p.abort("stopping the server at %s (pid %d): %v", addr, st.PID, err)
	}
	deadline := time.Now().Add(controlWait)
	for processAlive(st.PID) {
		if time.Now().After(deadline) {
			return p.abort("the server at %s (pid %d) is still running after %s: busy commands?", addr, st.PID, controlWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}

// restartServer has the server of st hand over to its binary's current
// build and waits until the new image answers.
func (p *Program) restartServer(addr string, st *unixfork.Status) int {
	if st.PID <= 0 {
		return p.abort("the server at %s does not say its pid (an older version?)", addr)
	}
	if err := syscall.Kill(st.PID, restartSignal); err != nil {
		return p.abort("restarting the server at %s (pid %d): %v", addr, st.PID, err)
	}
	deadline := time.Now().Add(controlWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		now, err := unixfork.QueryStatus(ctx, addr)
		cancel()
		if err == nil && (now.PID != st.PID || now.StartedAt != st.StartedAt) {
			return 0
		}
		if !processAlive(st.PID) {
			return p.abort("the server at %s (pid %d) exited instead of restarting: see its log", addr, st.PID)
		}
		if time.Now().After(deadline) {
			return p.abort("the server at %s (pid %d) did not restart within %s: see its log", addr, st.PID, controlWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processAlive reports whether pid runs: a zombie waiting for a slow init
// to reap it (a container's) has ended.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && procstat.Alive(pid)
}
