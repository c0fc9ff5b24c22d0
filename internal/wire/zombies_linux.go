package wire

import (
	"bytes"
	"os"
	"strconv"
)

// onlyZombies reports whether every process left in group pgid has
// exited and waits to be reaped. A member whose shell died first is
// reparented to PID 1, and an init that reaps slowly (a container's)
// keeps it a zombie that kill(2) still finds; it runs nothing and holds
// no file, so the hang-up is over.
func onlyZombies(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so the fields start after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || pid <= 0 {
			continue
		}
		if g, _ := strconv.Atoi(string(f[2])); g == pgid && f[0][0] != 'Z' {
			return false
		}
	}
	return true
}
