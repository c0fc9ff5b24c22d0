package pipe

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/procstat"
)

// TestSupervisedSpareChild: from the session's first exit on, the
// supervisor keeps a spare child, started before it is needed: the
// command after the next exit runs in that process (found among the
// supervisor's children before the exit), and the session ends cleanly
// with no child left behind.
func TestSupervisedSpareChild(t *testing.T) {
	c, serverErr := startSupervised(t)
	sup := c.Process().Pid
	if code, _, _ := runSupervised(t, c, false, "exit", "3"); code != 3 {
		t.Fatalf("exit 3: %d", code)
	}
	_, out, _ := runSupervised(t, c, false, "pid")
	serving, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("pid: %q", out)
	}
	children := func() []int {
		var pids []int
		_ = procstat.Each(func(pid int, st procstat.Stat) bool {
			if st.PPID == sup && !st.Zombie() {
				pids = append(pids, pid)
			}
			return true
		})
		return pids
	}
	var spare int
	for deadline := time.Now().Add(30 * time.Second); spare == 0; {
		for _, pid := range children() {
			if pid != serving {
				spare = pid
			}
		}
		if spare == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no spare child beside %d: children %v (server stderr %q)", serving, children(), serverErr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if code, out, _ := runSupervised(t, c, false, "exit", "4"); code != 4 || out != "leaving with 4\n" {
		t.Fatalf("exit 4: %d %q", code, out)
	}
	_, out, _ = runSupervised(t, c, false, "pid")
	if want := fmt.Sprintln(spare); out != want {
		t.Fatalf("the command after the exit ran in %q, want the spare %q", out, want)
	}
	if code := exitStatus(t, c); code != 0 {
		t.Fatalf("clean end: exit %d (stderr %q)", code, serverErr.String())
	}
	for deadline := time.Now().Add(10 * time.Second); procstat.Alive(spare) || len(children()) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("children left after the session: %v", children())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
