package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Read returns pid's stat line, parsed.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parse(b)
}

// parse reads "pid (comm) state ppid pgrp ...": comm may hold spaces and
// parentheses, so the fields start after the last ')'.
func parse(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("procstat: no ')' in %.40q", b)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) == 0 {
		return Stat{}, fmt.Errorf("procstat: short stat line %.40q", b)
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return Stat{}, fmt.Errorf("procstat: bad stat line %.40q", b)
	}
	return Stat{State: f[0][0], PPID: ppid, PGRP: pgrp}, nil
}

// Each calls f with the pid and stat of every process; f returns false to
// stop.
func Each(f func(pid int, st Stat) bool) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		st, err := Read(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if !f(pid, st) {
			return nil
		}
	}
	return nil
}
