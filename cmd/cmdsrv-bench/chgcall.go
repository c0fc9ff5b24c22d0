package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// chgCallPause is the untimed pause before every call of the group, the
// same for every row (see connectPause).
const chgCallPause = 30 * time.Millisecond

// benchChgCall: one `chg echo hi` next to /bin/true, and next to chg
// talking to the least a server can be (a helper process whose goroutines
// answer every request at once, see serveChgFloor): the gap between the
// two chg rows is what cmdsrv's server costs, the gap to /bin/true what
// chg itself does. Then the server's own side of each request, from its
// debug log.
func benchChgCall(cfg *config) ([]row, error) {
	const group = "5b one chg call"
	const base = "/bin/true"
	n := 30
	if cfg.quick {
		n = 5
	}
	rows := []row{}
	v, err := perCall(cfg, caller{path: "/bin/true", env: os.Environ()}, n, chgCallPause)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: base, value: v, baseline: base})
	if cfg.chg == "" {
		return append(rows, na(group, "chg echo hi (chg + cmdsrv)", base, "chg not installed")), nil
	}

	floorAddr := filepath.Join(socketDir(cfg, "chgfloor"), "s")
	floorSrv := helperCmd(cfg, "chgfloor:"+floorAddr)
	stopFloor, err := floorSrv.StdinPipe()
	if err != nil {
		return nil, err
	}
	floorOut, err := floorSrv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := floorSrv.Start(); err != nil {
		return nil, err
	}
	if err := awaitReady(floorOut); err != nil {
		stopFloor.Close()
		_ = floorSrv.Wait()
		return nil, err
	}
	floor := caller{path: cfg.chg, args: []string{"echo", "hi"}, env: append(os.Environ(), "CHGSOCKNAME="+floorAddr)}
	v, err = perCall(cfg, floor, n, chgCallPause)
	stopFloor.Close() // the helper exits at end of input
	_ = floorSrv.Wait()
	if err != nil {
		return nil, fmt.Errorf("chg against the floor server: %w", err)
	}
	rows = append(rows, row{group: group, name: "chg echo hi against a bare Go server process (floor)", value: v, baseline: base})

	v, err = perCall(cfg, chgCmdsrv(cfg, "chg5b", nil, "echo", "hi"), n, chgCallPause)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "chg echo hi (chg + cmdsrv)", value: v, baseline: base})
	v, err = perCall(cfg, chgCmdsrv(cfg, "chg5breuse", nil, "--config", "cmdserver.worker-reuse=1000", "echo", "hi"), n, chgCallPause)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "chg echo hi (chg + cmdsrv, worker-reuse 1000)", value: v, baseline: base})
	v, err = perCall(cfg, ownClient(cfg, "own5b", nil, "echo", "hi"), n, chgCallPause)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row{group: group, name: "CMDSRV_CLIENT=auto cmdsrv echo hi (own client)", value: v, baseline: base})

	steps, err := serverSteps(cfg, n)
	if err != nil {
		return nil, err
	}
	return append(rows, steps...), nil
}

// serverSteps runs n chg calls against a server at debug level and turns
// the median of each request's server-side duration ('requests served'
// log lines) into rows, in the order chg sends them.
func serverSteps(cfg *config, n int) ([]row, error) {
	const group = "5c server side of one chg call (debug log, medians)"
	dir := socketDir(cfg, "chgsteps")
	logPath := filepath.Join(dir, "log")
	c := chgCmdsrv(cfg, "chgsteps", []string{"CMDSRV_LOG_LEVEL=debug"}, "--config", "cmdserver.log="+logPath, "echo", "hi")
	if _, err := perCall(cfg, c, n, chgCallPause); err != nil {
		return nil, err
	}
	var lines []string
	deadline := time.Now().Add(10 * time.Second)
	for len(lines) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the last sessions' lines come as their workers end
		b, err := os.ReadFile(logPath)
		if err != nil {
			return nil, err
		}
		lines = lines[:0]
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "requests served") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		return []row{na(group, "sum", "", "no 'requests served' lines in the server's debug log")}, nil
	}
	pair := regexp.MustCompile(`(\w+)="?([0-9.]+(?:ns|µs|ms|s))"?`)
	durs := map[string][]float64{}
	for _, l := range lines {
		for _, m := range pair.FindAllStringSubmatch(l, -1) {
			d, err := time.ParseDuration(m[2])
			if err == nil {
				durs[m[1]] = append(durs[m[1]], d.Seconds())
			}
		}
	}
	var rows []row
	total := 0.0
	for _, req := range []string{"hello", "setprocname", "attachio", "chdir", "setumask2", "setenv", "validate", "runcommand"} {
		vs := durs[req]
		if len(vs) == 0 {
			continue
		}
		sort.Float64s(vs)
		m := vs[len(vs)/2]
		total += m
		rows = append(rows, row{group: group, name: req, value: m, baseline: "sum"})
	}
	return append(rows, row{group: group, name: "sum", value: total, baseline: "sum"}), nil
}

// startChgFloor serves chg's requests from goroutines of this process,
// doing nothing but answering: the hello, attachio (the descriptors are
// received and used for the output), validate with no instructions, and
// runcommand of anything as `echo hi`. It returns a function that stops
// it.
func startChgFloor(addr string) (stop func(), err error) {
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	hello := helloPayload([]string{"attachio", "chdir", "getencoding", "runcommand", "setenv", "setumask2", "validate"},
		os.Getpid(), syscall.Getpgrp())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveChgFloor(c.(*net.UnixConn), hello)
		}
	}()
	return func() { l.Close() }, nil
}

func serveChgFloor(c *net.UnixConn, hello []byte) {
	defer c.Close()
	if writeFrame(c, 'o', hello) != nil {
		return
	}
	br := bufio.NewReader(c)
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line != "attachio\n" {
			if err := skipBlock(br); err != nil {
				return
			}
		}
		switch line {
		case "attachio\n":
			if askInput(c, 'I', 1) != nil {
				return
			}
			oob := make([]byte, syscall.CmsgSpace(3*4))
			_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 1), oob)
			if err != nil {
				return
			}
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				got, _ := syscall.ParseUnixRights(&m)
				fds = append(fds, got...)
			}
			_ = writeResult(c, int32(len(fds)))
		case "validate\n":
			_ = writeFrame(c, 'r', []byte{0})
		case "runcommand\n":
			if len(fds) > 1 {
				_, _ = syscall.Write(fds[1], []byte("hi\n"))
			}
			_ = writeResult(c, 0)
		}
	}
}
