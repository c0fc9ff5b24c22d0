package wire

import "github.com/cmdsrv/cmdsrv/internal/procstat"

// onlyZombies reports whether every process left in group pgid has
// exited and waits to be reaped. A member whose shell died first is
// reparented to PID 1, and an init that reaps slowly (a container's)
// keeps it a zombie that kill(2) still finds; it runs nothing and holds
// no file, so the hang-up is over.
func onlyZombies(pgid int) bool {
	live := false
	err := procstat.Each(func(_ int, st procstat.Stat) bool {
		live = st.PGRP == pgid && !st.Zombie()
		return !live
	})
	return err == nil && !live
}
