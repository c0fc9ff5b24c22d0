//go:build unix

package unixfork

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/internal/handover"
)

// This file hands the server over to a new build of its binary. The
// master watches the file it was started from; when a rebuild or a
// reinstall replaces it, the master probes the new file (it must run and
// answer as a cmdsrv program), then executes it in place (package
// handover): the same pid and socket, the clients that connect meanwhile
// waiting in the backlog for the new image's first worker. The old
// workers read the end of their control socket: idle ones exit, busy
// ones finish their client first. Server.WatchFiles (files the program
// read as it started) are watched with the binary and handed over on
// alike: a new start reads them again.
//
// A chg worker whose validate finds the binary changed asks for the
// hand-over itself (RequestHandOver) and tells its client to reconnect
// once the master is gone, so that the client's next try reaches the new
// image instead of starting a server of its own.

// binaryState is what the master knows of its own binary.
type binaryState struct {
	exe     string     // the file it was started from, symbolic links resolved
	set     *fresh.Set // exe's fingerprint at start
	watcher *fresh.Watcher
	// handing is set while a hand-over runs: one at a time.
	handing bool
}

// watchBinary starts watching the binary; a server that cannot find it
// (deleted before it started) just cannot hand over.
func (s *Server) watchBinary() {
	// Where a new image is to start: pinned now, before a daemon moves
	// to / (Ready).
	handover.StartDir()
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		s.logger().Debug("not watching the binary", "error", err)
		return
	}
	set := &fresh.Set{}
	set.Add("", fresh.Dep{Kind: fresh.File, Name: exe})
	for _, f := range s.WatchFiles {
		if f != "" {
			set.Add("", fresh.Dep{Kind: fresh.File, Name: f})
		}
	}
	s.mu.Lock()
	s.binary.exe, s.binary.set = exe, set
	s.mu.Unlock()
	w := fresh.NewWatcher(s.logger().Named("watch"), func() {
		if c, changed := set.Check(); changed {
			go func() {
				if err := s.HandOver(context.Background(), c.String()+" changed"); err != nil && !errors.Is(err, ErrServerClosed) {
					s.logger().Error("the binary changed but the server cannot hand over to it; serving on", "error", err)
				}
			}()
		}
	})
	w.Sync(set)
	s.mu.Lock()
	s.binary.watcher = w
	closing := s.closing
	s.mu.Unlock()
	if closing {
		w.Close()
	}
}

// HandOver replaces the server's program with the current build of its
// binary, keeping its socket and pid (serve --restart, and a changed
// binary). The new binary is probed first: when it cannot take over,
// HandOver returns why and the server goes on. On success it does not
// return.
func (s *Server) HandOver(ctx context.Context, reason string) error {
	s.mu.Lock()
	exe, path := s.binary.exe, s.handOverPath()
	switch {
	case s.closing:
		s.mu.Unlock()
		return ErrServerClosed
	case s.binary.handing:
		s.mu.Unlock()
		return nil // the running one does it
	case exe == "" || path == "" || s.backlog == nil:
		s.mu.Unlock()
		return errors.New("this server cannot hand over: its binary or socket path is unknown")
	}
	s.binary.handing = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.binary.handing = false
		s.mu.Unlock()
	}()
	log := s.logger()
	log.Info("handing over to a new start of the binary", "reason", reason, "binary", exe)
	start := time.Now()
	if err := handover.Probe(ctx, exe); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	pids := make([]int, 0, len(s.procs))
	for p := range s.procs {
		pids = append(pids, p.pid)
	}
	backlog := s.backlog
	s.mu.Unlock()
	log.Info("executing the new binary", "probe", time.Since(start).Round(time.Millisecond), "workers_left", len(pids))
	return execOnForker(func() error { return handover.Exec(exe, backlog, path, pids) })
}

// handOverPath is the path of the socket file the new image takes over;
// s.mu must be held.
func (s *Server) handOverPath() string {
	if s.bound != nil {
		return s.bound.path
	}
	return s.ListenerPath
}

// closeBinaryWatch stops watching the binary, at shutdown.
func (s *Server) closeBinaryWatch() {
	s.mu.Lock()
	w := s.binary.watcher
	s.binary.watcher = nil
	s.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

// addBinary fills in when st's binary was modified and the build.
func addBinary(st *Status) {
	if fi, err := os.Stat(st.Binary); err == nil && st.Binary != "" {
		st.BinaryModified = fi.ModTime().Format(time.RFC3339)
	}
	st.Build = buildInfo()
}

// buildInfo describes the running build, once.
var buildInfo = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return runtime.Version()
	}
	desc := bi.GoVersion
	var rev, at, dirty string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			at = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				dirty = "+modified"
			}
		}
	}
	if rev != "" {
		desc += ", revision " + rev[:min(12, len(rev))] + dirty
		if at != "" {
			desc += " of " + at
		}
	}
	return desc
})
