//go:build unix

package chg

import (
	"context"
	"errors"
	"fmt"
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

// Server is the server chg starts: a unixfork service whose workers are
// extended by Extend, on a socket named after the configuration hash
// (PROTOCOL.md, "Server life cycle under chg").
type Server struct {
	// Address is the --address chg gave: the socket name plus ".PID".
	// Required.
	Address string
	// Config is the server-wide configuration (the --config options chg
	// passed on). chgserver.idletimeout and chgserver.skiphash are read
	// from it.
	Config *protocol.Config
	// Env is the environment the confighash is computed from; nil: the
	// process's.
	Env []string
	// Options tune the hashes; nil: defaults.
	Options *Options
	// GlobalOptions: the program reads Mercurial's global options from
	// each request (session.Session.GlobalOptions), validate included.
	// Without it the configuration hash covers no --config, on the
	// server's side as on the client's.
	GlobalOptions bool
	// Logger receives server events; nil: none.
	Logger hclog.Logger
	// Args0 is os.Args[0] for re-executed workers.
	Args0 string
	// Ready is called once the socket accepts connections.
	Ready func()
	// PollInterval is how often the socket and idleness are checked;
	// 0: one second.
	PollInterval time.Duration

	mu   sync.Mutex // guards fork and sock
	fork *unixfork.Server
	sock *socket
}

// ListenAndServe binds the socket and serves until Shutdown, which the
// server calls itself when its socket file is no longer its own or it
// has been idle for chgserver.idletimeout seconds. It returns
// ErrServerClosed after a shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	cfg := s.Config.Clone()
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
	var data workerData
	if !skip {
		hashed := cfg
		if !s.GlobalOptions {
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
	sock, err := bindSocket(s.Address, real)
	if err != nil {
		if sock != nil {
			sock.l.Close()
			_ = sock.unlinkIfOwned()
		}
		return err
	}
	fork := &unixfork.Server{
		Listener: sock.l,
		Config:   serverOnly(cfg),
		Logger:   log,
		// What makes a worker a chg worker: chg's start-up data, decoded
		// by WorkerExtension.
		WorkerData:    data.encode(),
		GlobalOptions: s.GlobalOptions,
		Args0:         s.Args0,
		Ready:         s.Ready,
	}
	s.mu.Lock()
	s.fork, s.sock = fork, sock
	s.mu.Unlock()

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
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, ErrServerClosed) {
			log.Warn("shutdown", "error", err)
		}
		cancel()
		return
	}
}

// Shutdown stops accepting, removes the socket file if it is still this
// server's, lets busy workers finish and stops idle ones.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	fork, sock := s.fork, s.sock
	s.mu.Unlock()
	if fork == nil {
		return fmt.Errorf("chg: server not started")
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
