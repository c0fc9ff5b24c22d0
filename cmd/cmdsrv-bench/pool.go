package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// benchPool: the unix service's pool at its default configuration, as a
// script, a burst, a long-running user and forgotten connections see it.
func benchPool(cfg *config) ([]row, error) {
	const group = "9 unix pool, default config"
	var rows []row

	// One worker start, as a client that finds no worker ready waits for
	// it: the unit the burst's worst wait is compared to.
	demand, err := startUnix(cfg, "pool9-demand.sock", nil, "--config", "cmdserver.workers=0", "--config", "cmdserver.worker-reuse=1")
	if err != nil {
		return nil, err
	}
	start, err := connectLatency(cfg, demand.addr, connectPause)
	demand.stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "one worker start (connect-to-hello, workers=0, reuse 1)", value: start, baseline: "one worker start (connect-to-hello, workers=0, reuse 1)"})

	s, err := startUnix(cfg, "pool9.sock", nil)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			s.stop()
		}
	}()

	// A script calling again as soon as its last call ended.
	n := 500
	if cfg.quick {
		n = 50
	}
	v, err := median(cfg.reps, func() (float64, error) {
		samples := make([]float64, 0, n)
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if err := oneCall(s.addr); err != nil {
				return 0, err
			}
			samples = append(samples, time.Since(t0).Seconds())
		}
		sort.Float64s(samples)
		return samples[len(samples)/2], nil
	})
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "back to back connect, hello, true, close (median)", value: v, note: "target <= 1.5 ms"})

	// 32 clients at once: the worst wait for a hello.
	worst, err := median(cfg.reps, func() (float64, error) {
		time.Sleep(500 * time.Millisecond) // the pool settles
		return burst(s.addr, 32)
	})
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "burst of 32: longest connect-to-hello", value: worst, baseline: "one worker start (connect-to-hello, workers=0, reuse 1)", note: ""})

	// The same burst against an application with a 200 ms start-up:
	// there a worker start is what a client must not wait for twice.
	slowDemand, err := startUnix(cfg, "pool9-slowdemand.sock", slowEnv, "--config", "cmdserver.workers=0", "--config", "cmdserver.worker-reuse=1")
	if err != nil {
		return nil, err
	}
	slowStart, err := connectLatency(cfg, slowDemand.addr, connectPause)
	slowDemand.stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "200 ms start-up: one worker start (connect-to-hello, workers=0, reuse 1)", value: slowStart,
		baseline: "200 ms start-up: one worker start (connect-to-hello, workers=0, reuse 1)"})
	slow, err := startUnix(cfg, "pool9-slow.sock", slowEnv)
	if err != nil {
		return nil, err
	}
	slowWorst, err := median(cfg.reps, func() (float64, error) {
		time.Sleep(time.Second) // the pool settles
		return burst(slow.addr, 32)
	})
	slow.stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "200 ms start-up: burst of 32: longest connect-to-hello", value: slowWorst,
		baseline: "200 ms start-up: one worker start (connect-to-hello, workers=0, reuse 1)"})

	// Many sequential clients: the master neither grows nor leaks.
	seq := 10000
	if cfg.quick {
		seq = 500
	}
	// A server of its own: the burst above grew the other one's pool.
	s.stop()
	stopped = true
	s, err = startUnix(cfg, "pool9-seq.sock", nil)
	if err != nil {
		return nil, err
	}
	stopped = false
	// Warm-up: the master's RSS grows with its first thousands of
	// clients (freed heap the runtime has not returned yet, pages touched
	// once; its live heap stays under 1 MB) and then flattens: measured
	// once, 5.6 MB at start, 10.3 MB after 5,000 clients, 10.6-10.7 MB from
	// 10,000 to 40,000. So the growth measured is that of the next seq
	// clients after seq/2 of warm-up.
	for i := 0; i < max(200, seq/2); i++ {
		if err := oneCall(s.addr); err != nil {
			return nil, err
		}
	}
	// Each worker holds descriptors in the master: measure once the pool
	// is back to its floor (cmdserver.spare-idle-timeout, 10 s, after the
	// last client), both times.
	settle := spareIdleTimeout + 2*time.Second
	time.Sleep(settle)
	pid := s.cmd.Process.Pid
	rss0, fds0 := procRSS(pid), procFDs(pid)
	for i := 0; i < seq; i++ {
		if err := oneCall(s.addr); err != nil {
			return nil, err
		}
	}
	time.Sleep(settle)
	rss1, fds1 := procRSS(pid), procFDs(pid)
	// What an idle server costs the machine: how often the master's
	// threads run while nobody connects (its health checks, the pings of
	// its idle workers), the pool at its floor.
	quiet := 10 * time.Second
	if cfg.quick {
		quiet = 3 * time.Second
	}
	sw0 := procSwitches(pid)
	time.Sleep(quiet)
	wakeups := float64(procSwitches(pid)-sw0) / quiet.Seconds()
	st, err := poolStatus(cfg, s.addr)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d sequential clients", seq)
	rows = append(rows,
		row{group: group, name: name + ": master RSS before", value: float64(rss0), unit: "memory"},
		row{group: group, name: name + ": master RSS after", value: float64(rss1), unit: "memory",
			note: fmt.Sprintf("%+.1f%% (target within +10%%)", 100*(float64(rss1)/float64(rss0)-1))},
		row{group: group, name: name + ": master open fds before / after", value: float64(fds1), unit: "count",
			note: fmt.Sprintf("%d / %d", fds0, fds1)},
		row{group: group, name: "idle master: context switches of its threads per second", value: wakeups, unit: "wakeups",
			note: fmt.Sprintf("over %s, the pool at its floor", quiet)},
		row{group: group, name: name + ": workers recycled (status)", value: float64(st["workers recycled"]), unit: "count",
			note: fmt.Sprintf("%d served, %d started, %d crashed", st["clients served"], st["workers started"], st["workers crashed"])})

	// 64 forgotten connections, then one more client.
	idle, err := startUnix(cfg, "pool9-idle.sock", nil)
	if err != nil {
		return nil, err
	}
	defer idle.stop()
	held := make([]net.Conn, 0, 64)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 64; i++ {
		c, err := net.Dial("unix", idle.addr)
		if err != nil {
			return nil, err
		}
		held = append(held, c)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := readFrame(c); err != nil {
			return nil, fmt.Errorf("idle connection %d: reading hello: %w", i, err)
		}
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := client.Dial(ctx, idle.addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("client after 64 idle connections: %w", err)
	}
	wait := time.Since(t0).Seconds()
	c.Close()
	rows = append(rows, row{group: group, name: "64 idle connections, then one client: connect-to-hello", value: wait, note: "target < 1 s"})
	return rows, nil
}

// oneCall is one short client: connect, hello, true, close.
func oneCall(addr string) error {
	c, err := client.Dial(context.Background(), addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return runOK(c, "true")
}

// burst connects n clients at once and returns the longest time one of
// them waited for its hello.
func burst(addr string, n int) (float64, error) {
	var wg sync.WaitGroup
	waits := make([]float64, n)
	errs := make(chan error, n)
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			waits[i] = time.Since(t0).Seconds()
			defer c.Close()
			if err := runOK(c, "true"); err != nil {
				errs <- err
			}
		}(i)
	}
	close(gate)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	sort.Float64s(waits)
	return waits[n-1], nil
}

// procRSS is pid's VmRSS in bytes (0 if unknown).
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procSwitches sums the context switches (voluntary and not) of pid's
// threads: how often they were scheduled out.
func procSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			}
		}
	}
	return n
}

// procFDs counts pid's open descriptors (-1 if unknown).
func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// spareIdleTimeout is the default cmdserver.spare-idle-timeout: how long the
// pool keeps workers above its floor after the last client.
const spareIdleTimeout = 10 * time.Second

// poolStatus runs `serve --status` of the cmdsrv binary against the server at
// addr and returns its counters by name ("workers recycled", and "clients
// served" from the line "clients: N served, ...").
func poolStatus(cfg *config, addr string) (map[string]int, error) {
	out, err := exec.Command(cfg.cmdsrv, "serve", "--cmdserver", "unix", "--address", addr, "--status").Output()
	if err != nil {
		return nil, fmt.Errorf("serve --status: %w", err)
	}
	st := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		key, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		// "workers started: 3", or "clients: 5 served, 0 active, ...".
		for _, part := range strings.Split(rest, ", ") {
			f := strings.Fields(part)
			if len(f) == 0 {
				continue
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			if len(f) == 1 {
				st[key] = n
			} else {
				st[key+" "+f[1]] = n
			}
		}
	}
	return st, nil
}
