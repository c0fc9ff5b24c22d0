//go:build unix

package chg

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
	"github.com/cmdsrv/cmdsrv/unixfork"
)

// ErrServerClosed is returned by ListenAndServe after Shutdown, including
// a shutdown of the server's own watcher (socket taken over, idle).
var ErrServerClosed = unixfork.ErrServerClosed

// DefaultIdleTimeout is chgserver.idletimeout's default.
const DefaultIdleTimeout = time.Hour

// Server is the server chg starts: a unixfork service whose workers serve
// chg's extensions, on a socket named after the configuration hash
// (PROTOCOL.md, "Server life cycle under chg").
type Server struct {
	// Address is the --address chg gave: the socket name plus ".PID".
	// Required.
	Address string
	// Session is what the sessions start from. Its Config is the
	// server-wide configuration (the --config options chg passed on):
	// chgserver.idletimeout and chgserver.skiphash are read from it, and
	// sessions get only its cmdserver.* and chgserver.* keys (see
	// serverOnly). With GlobalOptions the program reads Mercurial's
	// global options from each request, validate included; without it
	// the configuration hash covers no --config, on the server's side as
	// on the client's. Dir (-R) and Traceback reach every session.
	Session protocol.SessionOptions
	// Env is the environment the confighash is computed from; nil: the
	// process's.
	Env []string
	// Options tune the hashes; nil: defaults.
	Options *Options
	// Logger receives server events; nil: none.
	Logger hclog.Logger
	// Args0 is os.Args[0] for re-executed workers.
	Args0 string
	// Ready is called once the socket accepts connections.
	Ready func()
	// PollInterval is how often the socket and idleness are checked;
	// 0: one second.
	PollInterval time.Duration

	mu sync.Mutex // guards the fields below
	// closing is set by Shutdown: a ListenAndServe still hashing or
	// binding undoes its bind and returns ErrServerClosed.
	closing bool
	fork    *unixfork.Server
	sock    *socket
}

// testHookHashed, if set, runs between hashing and binding (tests: a
// Shutdown during start-up).
var testHookHashed func()

// ListenAndServe binds the socket and serves until Shutdown, which the
// server calls itself when its socket file is no longer its own or it
// has been idle for chgserver.idletimeout seconds. It returns
// ErrServerClosed after a shutdown, whenever it came: before the call,
// while the hashes are computed, while binding or while serving; the
// socket file is gone by then (unless another server took it over).
func (s *Server) ListenAndServe(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if s.isClosing() {
		return ErrServerClosed
	}
	cfg := s.Session.ConfigOrEmpty().Clone()
	idleSecs, err := cfg.Int("chgserver.idletimeout", int(DefaultIdleTimeout/time.Second))
	if err != nil {
		return err
	}
	skip, err := cfg.Bool("chgserver.skiphash", false)
	if err != nil {
		return err
	}
	env := s.Env
	if env == nil {
		env = os.Environ()
	}
	real := s.Address
	data := workerData{Options: s.Options}
	if !skip {
		hashed := cfg
		if !s.Session.GlobalOptions {
			hashed = &protocol.Config{} // as validate sees every client
		}
		st, err := NewState(s.Address, hashed, env, s.Options)
		if err != nil {
			return err
		}
		data.State = st
		real = HashAddress(s.Address, st.ConfigHash)
		log.Debug("hashes", "confighash", st.ConfigHash, "mtimehash", st.MtimeHash)
	}
	if testHookHashed != nil {
		testHookHashed()
	}
	if s.isClosing() {
		return ErrServerClosed
	}
	sock, err := bindSocket(s.Address, real)
	if err != nil {
		if sock != nil {
			sock.l.Close()
			_ = sock.unlinkIfOwned()
		}
		return err
	}
	opts := s.Session
	opts.Config = serverOnly(cfg)
	fork := &unixfork.Server{
		Listener:     sock.l,
		ListenerPath: real,
		Session:      opts,
		Logger:       log,
		// What makes a worker a chg worker: chg's start-up data, decoded
		// by workerExtension.
		WorkerData: data.encode(),
		Args0:      s.Args0,
		Ready:      s.Ready,
	}
	if s.Options != nil {
		// Watched too: the hand-over happens in the background, and the
		// call after it is warm (validate still checks each call).
		fork.WatchFiles = s.Options.MtimePaths
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.fork, s.sock = fork, sock
	}
	s.mu.Unlock()
	if closing {
		// Shutdown came while we were binding: it found nothing to stop.
		sock.l.Close()
		if err := sock.unlinkIfOwned(); err != nil {
			log.Warn("removing socket", "error", err)
		}
		return ErrServerClosed
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watch(stop, fork, sock, time.Duration(idleSecs)*time.Second, log)
	}()
	err = fork.ListenAndServe(ctx)
	close(stop)
	wg.Wait()
	if uerr := sock.unlinkIfOwned(); uerr != nil {
		log.Warn("removing socket", "error", uerr)
	}
	return err
}

// watch shuts the server down when its socket is no longer its own or it
// has been idle too long. It returns when stop is closed.
func (s *Server) watch(stop <-chan struct{}, fork *unixfork.Server, sock *socket, idle time.Duration, log hclog.Logger) {
	interval := s.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		reason := ""
		if !sock.owned() {
			reason = "socket is not owned any more"
		} else if fork.ActiveClients() == 0 {
			last := fork.LastActivity()
			if last.Before(start) {
				last = start
			}
			if time.Since(last) > idle {
				reason = "idle too long"
			}
		}
		if reason == "" {
			continue
		}
		log.Info("exiting: "+reason, "socket", sock.paths[0])
		// The same shutdown as a signal's (cmdsrv.Program): busy workers
		// finish their clients, however long that takes.
		if err := s.Shutdown(context.Background()); err != nil && !errors.Is(err, ErrServerClosed) {
			log.Warn("shutdown", "error", err)
		}
		return
	}
}

// Shutdown stops accepting, removes the socket file if it is still this
// server's, lets busy workers finish and stops idle ones. It may come at
// any moment: before ListenAndServe or while it hashes and binds, the
// shutdown is recorded and ListenAndServe undoes its bind and returns
// ErrServerClosed.
// HandOver has the running server execute its binary's current build in
// place, on the same socket (unixfork.Server.HandOver).
func (s *Server) HandOver(ctx context.Context, reason string) error {
	s.mu.Lock()
	fork := s.fork
	s.mu.Unlock()
	if fork == nil {
		return ErrServerClosed
	}
	return fork.HandOver(ctx, reason)
}

func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	fork, sock := s.fork, s.sock
	s.mu.Unlock()
	if fork == nil {
		return nil
	}
	if err := sock.unlinkIfOwned(); err != nil && s.Logger != nil {
		s.Logger.Warn("removing socket", "error", err)
	}
	return fork.Shutdown(ctx)
}

// serverOnly keeps the keys that configure the server itself (cmdserver.*,
// chgserver.*). chg passes the first caller's --config options to the
// server it starts; as in Mercurial, they must not become every later
// client's settings: each request brings its own --config.
func serverOnly(cfg *protocol.Config) *protocol.Config {
	out := &protocol.Config{}
	for _, k := range cfg.Keys() {
		if strings.HasPrefix(k, "cmdserver.") || strings.HasPrefix(k, "chgserver.") {
			v, _ := cfg.Lookup(k)
			out.Set(k, v)
		}
	}
	return out
}

// isClosing reports whether Shutdown has been called.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
