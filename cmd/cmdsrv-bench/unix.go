package main

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
)

// server is a unix-socket server started for a measurement.
type server struct {
	cmd  *exec.Cmd
	addr string
}

// startUnix starts `cmdsrv --cmdserver unix` with extra arguments and waits
// until its socket answers.
func startUnix(cfg *config, name string, env []string, args ...string) (*server, error) {
	addr := filepath.Join(cfg.workDir, name)
	cmd := exec.Command(cfg.cmdsrv, append([]string{"serve", "--cmdserver", "unix", "--address", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return startServerCmd(cmd, addr)
}

func startServerCmd(cmd *exec.Cmd, addr string) (*server, error) {
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, addr: addr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server at %s did not come up", addr)
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	os.Remove(s.addr)
}

// connectPause is the untimed pause before each connect: long enough for
// a pool to refill after a worker took a client. Every row of the group
// uses it, the floor included: after a longer idle time the machine wakes
// a sleeping process more slowly, and rows measured after different
// pauses would not compare.
const connectPause = 50 * time.Millisecond

// connectLatency measures connect-to-hello, pausing between connections so
// a pool can refill (the pause is not timed).
func connectLatency(cfg *config, addr string, pause time.Duration) (float64, error) {
	n := 50
	if cfg.quick {
		n = 15
	}
	return median(cfg.reps, func() (float64, error) {
		samples := make([]float64, 0, n)
		for i := 0; i < n; i++ {
			time.Sleep(pause)
			start := time.Now()
			c, err := client.Dial(context.Background(), addr)
			if err != nil {
				return 0, err
			}
			samples = append(samples, time.Since(start).Seconds())
			c.Close()
		}
		sort.Float64s(samples)
		return samples[len(samples)/2], nil
	})
}

// benchConnect: connect-to-hello latency of the unix service.
func benchConnect(cfg *config) ([]row, error) {
	const group = "4 unix connect-to-hello"
	var rows []row

	// The floor: a goroutine per accepted connection in this process.
	addr := filepath.Join(cfg.workDir, "floor.sock")
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	hello := helloPayload([]string{"getencoding", "runcommand"}, os.Getpid(), os.Getpid())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = writeFrame(c, 'o', hello)
				_, _ = bufio.NewReader(c).ReadByte() // until the client closes
				c.Close()
			}()
		}
	}()
	floor, err := connectLatency(cfg, addr, connectPause)
	l.Close()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "goroutine accept (floor)", value: floor, baseline: "goroutine accept (floor)"})

	s, err := startUnix(cfg, "pool.sock", nil)
	if err != nil {
		return nil, err
	}
	v, err := connectLatency(cfg, s.addr, connectPause)
	s.stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "cmdsrv warm pool", value: v, baseline: "goroutine accept (floor)"})

	// A process started per client: no spare workers, no reuse.
	s, err = startUnix(cfg, "demand.sock", nil, "--config", "cmdserver.workers=0", "--config", "cmdserver.worker-reuse=1")
	if err != nil {
		return nil, err
	}
	v, err = connectLatency(cfg, s.addr, connectPause)
	s.stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "cmdsrv worker on demand", value: v, baseline: "goroutine accept (floor)"})

	if cfg.hg == "" {
		return append(rows, na(group, "hg serve --cmdserver unix", "goroutine accept (floor)", "hg not installed")), nil
	}
	haddr := filepath.Join(cfg.workDir, "hg.sock")
	cmd := exec.Command(cfg.hg, "serve", "--cmdserver", "unix", "--address", haddr, "-R", cfg.hgRepo)
	cmd.Env = cfg.hgEnv
	hs, err := startServerCmd(cmd, haddr)
	if err != nil {
		return nil, err
	}
	v, err = connectLatency(cfg, haddr, connectPause)
	hs.stop()
	if err != nil {
		return nil, err
	}
	return append(rows, row{group: group, name: "hg serve --cmdserver unix", value: v, baseline: "goroutine accept (floor)"}), nil
}

// benchClients: requests per second with concurrent clients, each opening
// a connection and running 20 commands on it, and the peak memory of the
// master and its workers.
func benchClients(cfg *config) ([]row, error) {
	const group = "6 concurrent clients (unix, 20 requests per connection)"
	var rows []row
	levels := []int{1, 2, 8, 32}
	for _, n := range levels {
		s, err := startUnix(cfg, fmt.Sprintf("clients%d.sock", n), nil, "--config", fmt.Sprintf("cmdserver.max-clients=%d", max(n, 64)))
		if err != nil {
			return nil, err
		}
		stopSampling, peak := sampleRSS(s.cmd.Process.Pid)
		rate, err := median(cfg.reps, func() (float64, error) { return clientRate(cfg, s.addr, n) })
		stopSampling()
		s.stop()
		if err != nil {
			return nil, err
		}
		rows = append(rows,
			row{group: group, name: fmt.Sprintf("%d clients", n), value: rate, unit: "rate", baseline: "1 clients"},
			row{group: group, name: fmt.Sprintf("%d clients: peak RSS master+workers", n), value: float64(*peak), unit: "memory"})
	}
	return rows, nil
}

func clientRate(cfg *config, addr string, clients int) (float64, error) {
	perClient := 5
	if cfg.quick {
		perClient = 2
	}
	const reqs = 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perClient; k++ {
				c, err := client.Dial(context.Background(), addr)
				if err != nil {
					errs <- err
					return
				}
				for r := 0; r < reqs; r++ {
					if err := runOK(c, "echo", "hi"); err != nil {
						errs <- err
						c.Close()
						return
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(clients*perClient*reqs) / time.Since(start).Seconds(), nil
}

// sampleRSS samples the resident memory of pid and its descendants every
// 20 ms until stopped; peak holds the largest sum seen.
func sampleRSS(pid int) (stop func(), peak *int64) {
	peak = new(int64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := treeRSS(pid); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }, peak
}

// treeRSS sums VmRSS of pid and every process whose parent chain reaches it.
func treeRSS(root int) int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	rss := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				parent[pid], _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				rss[pid] = kb << 10
			}
		}
	}
	var total int64
	for pid, r := range rss {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				total += r
				break
			}
		}
	}
	return total
}
