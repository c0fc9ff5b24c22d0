package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// helperEnv selects a helper role when this binary runs as a child of
// itself: the floors of the pipe rows are measured against a real process.
const helperEnv = "CMDSRV_BENCH_HELPER"

// helper runs the helper role, if any, and reports whether it did.
func helper() bool {
	role := os.Getenv(helperEnv)
	switch {
	case role == "":
		return false
	case role == "pingpong":
		// Echo every byte back: a round trip of the smallest message.
		r := bufio.NewReader(os.Stdin)
		var b [1]byte
		for {
			if _, err := io.ReadFull(r, b[:]); err != nil {
				os.Exit(0)
			}
			if _, err := os.Stdout.Write(b[:]); err != nil {
				os.Exit(1)
			}
		}
	case strings.HasPrefix(role, "emit:"):
		n, _ := strconv.ParseInt(role[len("emit:"):], 10, 64)
		ready(os.Stdout)
		emit(os.Stdout, n)
	case strings.HasPrefix(role, "emitunix:"):
		// emitunix:N:PATH: the same bytes on a unix socket.
		spec, addr, _ := strings.Cut(role[len("emitunix:"):], ":")
		n, _ := strconv.ParseInt(spec, 10, 64)
		conn, err := net.Dial("unix", addr)
		if err != nil {
			os.Exit(1)
		}
		ready(conn)
		emit(conn, n)
		conn.Close()
	case strings.HasPrefix(role, "chgfloor:"):
		// chgfloor:PATH: the floor of a chg call, served until stdin ends.
		stop, err := startChgFloor(role[len("chgfloor:"):])
		if err != nil {
			os.Exit(1)
		}
		ready(os.Stdout)
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	case role == "cat":
		ready(os.Stdout)
		buf := make([]byte, 64<<10)
		if _, err := io.CopyBuffer(os.Stdout, os.Stdin, buf); err != nil {
			os.Exit(1)
		}
	}
	os.Exit(0)
	return true
}

// readyByte is what a throughput helper writes first, once it runs: the
// floors are timed from it, not from the process start.
const readyByte = 'R'

func ready(w io.Writer) {
	if _, err := w.Write([]byte{readyByte}); err != nil {
		os.Exit(1)
	}
}

// emit writes n bytes to w in chunks of 64 KiB, as debugoutput does.
func emit(w io.Writer, n int64) {
	chunk := make([]byte, 64<<10)
	for n > 0 {
		c := chunk[:min(int64(len(chunk)), n)]
		if _, err := w.Write(c); err != nil {
			os.Exit(1)
		}
		n -= int64(len(c))
	}
}

// helperCmd returns a command running this binary in a helper role.
func helperCmd(cfg *config, role string) *exec.Cmd {
	cmd := exec.Command(cfg.self)
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	cmd.Stderr = os.Stderr
	return cmd
}
