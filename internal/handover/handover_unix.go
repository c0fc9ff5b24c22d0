//go:build unix

package handover

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probeTimeout bounds the probe of a new binary: its package
// initialisation runs, nothing more.
const probeTimeout = 30 * time.Second

// Probe runs exe with ProbeEnv set and reports whether it answers as a
// program that can take a hand-over: a half-written file, another
// program or one built without this package fails, and the server keeps
// running on its own binary instead of executing it.
func Probe(ctx context.Context, exe string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	when := "1"
	if answersInMain.Load() {
		when = probeMain
	}
	cmd.Env = append(os.Environ(), ProbeEnv+"="+when)
	cmd.Dir = StartDir()
	out, err := cmd.Output()
	if err != nil {
		return errorf("probing %s: %w", exe, err)
	}
	// Its packages' initialisation may have printed before the answer.
	if !bytes.HasSuffix(bytes.TrimSpace(out), []byte(ProbeAnswer)) {
		return errorf("probing %s: it answered %.60q, not as a cmdsrv program", exe, out)
	}
	return nil
}

// Exec replaces the process's program with exe, keeping ln (the socket
// listening at path) open for the new image and telling it the children
// to reap. It returns only when the exec failed; the listener is then
// left as it was.
func Exec(exe string, ln *os.File, path string, children []int) error {
	fd := int(ln.Fd())
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return errorf("keeping the socket open: %w", err)
	}
	env := make([]string, 0, len(os.Environ())+3)
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != envListener && k != envPIDs && k != envDir {
			env = append(env, e)
		}
	}
	env = append(env,
		envListener+"="+itoa(fd)+":"+Abs(path),
		envPIDs+"="+pidList(children),
		envDir+"="+StartDir())
	// The new image starts where the first one did.
	here, _ := os.Getwd()
	if err := os.Chdir(StartDir()); err != nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		return errorf("changing to %s: %w", StartDir(), err)
	}
	err := syscall.Exec(exe, os.Args, env)
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	if here != "" {
		_ = os.Chdir(here)
	}
	return errorf("executing %s: %w", exe, err)
}

// Reap waits, in the background, for the children the old image left:
// they are this process's children now, and would stay zombies.
func Reap() {
	for _, pid := range InheritedPIDs() {
		go func(pid int) {
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
					return
				}
			}
		}(pid)
	}
}

func itoa(n int) string { return pidList([]int{n}) }
