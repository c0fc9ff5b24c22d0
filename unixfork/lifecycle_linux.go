//go:build linux

package unixfork

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peerPID is the pid SO_PEERCRED gives c: for a connection to a listening
// socket, the process that called listen (0: unknown).
func peerPID(c *net.UnixConn) int {
	cred, err := peerCred(c)
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}

// procStat reads a process's state letter and parent pid from
// /proc/PID/stat.
func procStat(pid int) (state string, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	// pid (comm) STATE PPID ...; comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return "", 0, fmt.Errorf("reading /proc/%d/stat: short line", pid)
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err
}

// parentPID is pid's parent (-1: unknown).
func parentPID(pid int) int {
	_, ppid, err := procStat(pid)
	if err != nil {
		return -1
	}
	return ppid
}
