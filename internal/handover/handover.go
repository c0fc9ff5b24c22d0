// Package handover lets a socket server replace its program with a new
// build of it without closing its listening socket: the process executes
// the new binary in place (same pid, arguments and environment), and the
// new image finds the socket it inherited instead of binding a new one.
// Clients that connect meanwhile wait in the socket's backlog; none is
// refused, and the socket file, its inode and the pid stay the same, so
// that pid files, chg's socket identity checks and supervisors see one
// server throughout.
//
// The processes the old image started (its busy workers finishing their
// clients) stay its children across the exec; Reap waits for them in the
// new image.
package handover

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Environment of the new image. Both are removed from the environment as
// soon as they are read, so that nothing the server starts inherits them.
const (
	// envListener is "FD:PATH": the listening socket bound at PATH is
	// open on FD.
	envListener = "CMDSRV_HANDOVER_LISTENER"
	// envPIDs lists the old image's children to reap, comma-separated.
	envPIDs = "CMDSRV_HANDOVER_PIDS"
	// envDir is the directory the old image started in: the new one
	// starts there too, so that relative paths in its arguments mean
	// what they meant (a daemon has moved to / since).
	envDir = "CMDSRV_HANDOVER_DIR"
	// ProbeEnv set to 1 makes a program that links this package print
	// ProbeAnswer and exit at once; set to probeMain, once its packages
	// have initialised (AnswerProbe). See Probe.
	ProbeEnv  = "CMDSRV_HANDOVER_PROBE"
	probeMain = "main"
	// ProbeAnswer is what a probed program prints.
	ProbeAnswer = "cmdsrv-handover-ok"
)

// A probed program that does not call AnswerProbe answers before
// anything else of it runs. The
// hand-over's variables are taken out of the environment before the
// program reads it: a chg server hashes its environment to name its
// socket, and must find the name the old image had.
func init() {
	if os.Getenv(ProbeEnv) == "1" {
		fmt.Println(ProbeAnswer)
		os.Exit(0)
	}
	load()
}

// answersInMain is set by AnswerProbe: this program, and so its new
// build, answers a probe only after its packages initialised.
var answersInMain atomic.Bool

// AnswerProbe is called first thing in main by a program that can
// (cmdsrv.Program.Main): a probe then answers only after every package of
// the new build initialised, so that a build whose initialisation exits
// (a configuration file it reads at init became unusable) fails its
// probe, and the server goes on, instead of executing it and dying with
// its clients waiting.
func AnswerProbe() {
	answersInMain.Store(true)
	if os.Getenv(ProbeEnv) == probeMain {
		fmt.Println(ProbeAnswer)
		os.Exit(0)
	}
}

var (
	once    sync.Once
	inherit inherited
	// startDir is taken on first use (a server pins it before it
	// detaches), not at init: every direct run and client call would pay
	// a getcwd for it.
	startDir     string
	startDirOnce sync.Once
)

type inherited struct {
	fd   int
	path string
	pids []int
	used bool
}

func load() {
	once.Do(func() {
		inherit.fd = -1
		if v, ok := os.LookupEnv(envListener); ok {
			os.Unsetenv(envListener)
			fd, path, _ := strings.Cut(v, ":")
			if n, err := strconv.Atoi(fd); err == nil && n > 2 && path != "" {
				inherit.fd, inherit.path = n, path
			}
		}
		if v, ok := os.LookupEnv(envPIDs); ok {
			os.Unsetenv(envPIDs)
			for _, s := range strings.Split(v, ",") {
				if n, err := strconv.Atoi(s); err == nil && n > 0 {
					inherit.pids = append(inherit.pids, n)
				}
			}
		}
		if d, ok := os.LookupEnv(envDir); ok {
			os.Unsetenv(envDir)
			startDir = d
		}
	})
}

// StartDir is the directory the server's program started in (across
// hand-overs: the first image's).
func StartDir() string {
	load()
	startDirOnce.Do(func() {
		if startDir == "" {
			startDir, _ = os.Getwd()
		}
	})
	return startDir
}

// Inherited returns the listening socket a previous image handed over
// for path, once; false when there is none for that path.
func Inherited(path string) (*os.File, bool) {
	load()
	if inherit.fd < 0 || inherit.used || !samePath(inherit.path, path) {
		return nil, false
	}
	inherit.used = true
	return os.NewFile(uintptr(inherit.fd), "handed-over:"+path), true
}

func samePath(a, b string) bool {
	abs := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join(StartDir(), p)
		}
		return filepath.Clean(p)
	}
	return abs(a) == abs(b)
}

// CloseUnused closes the socket handed over if the new image did not
// take it (it now listens elsewhere): clients connecting to the old name
// are then refused, and start a server, instead of waiting in a backlog
// nobody accepts from.
func CloseUnused() {
	load()
	if inherit.fd >= 0 && !inherit.used {
		inherit.used = true
		_ = os.NewFile(uintptr(inherit.fd), "unused hand-over").Close()
	}
}

// InheritedPIDs returns the old image's children still to be reaped.
func InheritedPIDs() []int {
	load()
	return inherit.pids
}

// Abs makes path absolute against the directory the program started in.
func Abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(StartDir(), path)
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// errorf wraps the hand-over's errors.
func errorf(format string, args ...any) error {
	return fmt.Errorf("handing over: "+format, args...)
}
