package unixfork

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// StatusCommand is the request command a worker advertises in its hello
// and answers with the pool's status, as JSON on the 'r' channel. The
// worker asks its master over the control socket: only the master knows
// the pool.
const StatusCommand = "poolstatus"

// Status is a snapshot of a running server's pool.
type Status struct {
	// Workers by state. The worker answering the status request is busy.
	Idle     int `json:"idle"`
	Busy     int `json:"busy"`
	Starting int `json:"starting"`
	// SpareTarget is how many spare (idle or starting) workers the pool
	// keeps now, between cmdserver.min-spare-workers and
	// cmdserver.max-spare-workers.
	SpareTarget int `json:"spare_target"`
	// ClientsServed counts the clients workers accepted; ClientsActive
	// those connected now.
	ClientsServed int64 `json:"clients_served"`
	ClientsActive int   `json:"clients_active"`
	// ClientsWaiting counts the clients waiting in the listen backlog for
	// a worker (Linux: asked of the kernel over sock_diag; elsewhere 1 when
	// at least one waits).
	ClientsWaiting int `json:"clients_waiting"`
	// WorkersStarted, WorkersRecycled (exited after their share of
	// clients or over the RSS limit), WorkersCrashed (died before ready,
	// or while serving), WorkersUnresponsive (stopped answering the master
	// and were killed), StartTimeouts (killed while building the Handler).
	WorkersStarted      int64 `json:"workers_started"`
	WorkersRecycled     int64 `json:"workers_recycled"`
	WorkersCrashed      int64 `json:"workers_crashed"`
	WorkersUnresponsive int64 `json:"workers_unresponsive"`
	StartTimeouts       int64 `json:"start_timeouts"`
	// MaxClientsReached counts the times a client found every worker slot
	// of cmdserver.max-clients taken; IdleClientsClosed the connections
	// closed for sitting idle while others waited.
	MaxClientsReached int64 `json:"max_clients_reached"`
	IdleClientsClosed int64 `json:"idle_clients_closed"`
	MaxClients        int   `json:"max_clients"`
	// LastFailure is why the last worker failed to start, if one did.
	LastFailure string `json:"last_failure,omitempty"`
	// Uptime is how long the master has been serving, in seconds.
	Uptime float64 `json:"uptime_seconds"`

	// Freshness. Generation counts the sets of workers started since the
	// server started (0: the first); Refreshes the generations replaced
	// because a dependency changed, LastRefresh (RFC 3339) and
	// RefreshCause when the last was and what changed.
	Generation   int    `json:"generation"`
	Refreshes    int64  `json:"refreshes"`
	LastRefresh  string `json:"last_refresh,omitempty"`
	RefreshCause string `json:"refresh_cause,omitempty"`
	// Deps are the current generation's declared files and directories
	// (at most maxStatusDeps of them; DepsTotal counts all). Watching is
	// set when every one is watched; a dependency not watched is still
	// checked before each command.
	Deps      []DepStatus `json:"deps,omitempty"`
	DepsTotal int         `json:"deps_total"`
	Watching  bool        `json:"watching"`

	// The master: its PID, when it started serving (RFC 3339; a
	// hand-over starts it again, with the same PID), the binary it runs
	// and when that file was last modified, and its build (Go version
	// and, when built from a repository, the revision and its time).
	PID            int    `json:"pid"`
	StartedAt      string `json:"started_at"`
	Binary         string `json:"binary,omitempty"`
	BinaryModified string `json:"binary_modified,omitempty"`
	Build          string `json:"build,omitempty"`
}

// Format writes s for a human, one "name: value" line each.
func (s *Status) Format(w io.Writer) error {
	up := time.Duration(s.Uptime * float64(time.Second)).Round(time.Second)
	_, err := fmt.Fprintf(w, `workers: %d idle, %d busy, %d starting (spare target %d)
clients: %d served, %d active, %d waiting (max-clients %d, reached %d times)
workers started: %d
workers recycled: %d
workers crashed: %d
workers unresponsive (killed): %d
worker start timeouts: %d
idle clients closed: %d
uptime: %s
`, s.Idle, s.Busy, s.Starting, s.SpareTarget,
		s.ClientsServed, s.ClientsActive, s.ClientsWaiting, s.MaxClients, s.MaxClientsReached,
		s.WorkersStarted, s.WorkersRecycled, s.WorkersCrashed, s.WorkersUnresponsive, s.StartTimeouts,
		s.IdleClientsClosed, up)
	if err == nil && s.LastFailure != "" {
		_, err = fmt.Fprintf(w, "last worker failure: %s\n", s.LastFailure)
	}
	if err == nil {
		err = s.formatFreshness(w)
	}
	if err == nil {
		_, err = fmt.Fprintf(w, "server: pid %d, started %s\nbinary: %s (modified %s; %s)\n",
			s.PID, s.StartedAt, s.Binary, s.BinaryModified, s.Build)
	}
	return err
}

// formatFreshness writes the generation and dependency lines of Format.
func (s *Status) formatFreshness(w io.Writer) error {
	refresh := "none"
	if s.LastRefresh != "" {
		refresh = s.LastRefresh + " (" + s.RefreshCause + " changed)"
	}
	watch := "checked before each command only"
	switch {
	case s.DepsTotal == 0:
		watch = "none declared"
	case s.Watching:
		watch = "watched, rebuilt in the background on a change"
	}
	if _, err := fmt.Fprintf(w, "generation: %d (%d refreshes, last %s)\ndependencies: %d, %s\n",
		s.Generation, s.Refreshes, refresh, s.DepsTotal, watch); err != nil {
		return err
	}
	for _, d := range s.Deps {
		how := "checked"
		if d.Watched {
			how = "watched"
		}
		if _, err := fmt.Fprintf(w, "  %s %s (%s)\n", d.Kind, d.Path, how); err != nil {
			return err
		}
	}
	if more := s.DepsTotal - len(s.Deps); more > 0 {
		if _, err := fmt.Fprintf(w, "  and %d more\n", more); err != nil {
			return err
		}
	}
	return nil
}

// QueryStatus connects to the server at addr as a client and asks a worker
// for the pool's status. The request occupies a worker for a moment, like
// any client: when every worker is taken it waits in the backlog until ctx
// ends.
//
// Nothing serving at addr is an error that wraps ErrNoServer.
func QueryStatus(ctx context.Context, addr string) (*Status, error) {
	st, _, err := queryStatus(ctx, addr)
	return st, err
}

// queryStatus is QueryStatus, which also says who answered.
func queryStatus(ctx context.Context, addr string) (*Status, answerer, error) {
	var who answerer
	c, err := dialServer(ctx, addr)
	if err != nil {
		return nil, who, err
	}
	defer c.Close()
	who.peerPID = peerPID(c)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	fail := func(what string, err error) (*Status, answerer, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, who, fmt.Errorf("asking %s for its status: %s: %w", addr, what, err)
	}
	ch, payload, _, err := wire.ReadFrame(c, maxStatusFrame)
	if err != nil {
		return fail("reading hello", err)
	}
	if ch == session.ChannelError {
		return fail("server answered", errors.New(string(payload)))
	}
	h, err := wire.ParseHello(payload)
	if err != nil {
		return fail("reading hello", err)
	}
	who.helloPID = h.PID
	if !slices.Contains(h.Capabilities, StatusCommand) {
		return fail("hello", errors.New("the server does not offer a status (not a unixfork pool?)"))
	}
	if _, err := io.WriteString(c, StatusCommand+"\n"); err != nil {
		return fail("sending request", err)
	}
	st, err := readStatusAnswer(c)
	if err != nil {
		return fail("reading answer", err)
	}
	return st, who, nil
}

// maxStatusFrame bounds one frame of a status answer.
const maxStatusFrame = 1 << 20

// readStatusAnswer reads the frames that answer a StatusCommand request:
// the status as JSON on 'r', or an error on 'e'. Other channels are
// skipped.
func readStatusAnswer(r io.Reader) (*Status, error) {
	for {
		ch, payload, _, err := wire.ReadFrame(r, maxStatusFrame)
		if err != nil {
			return nil, err
		}
		switch ch {
		case session.ChannelResult:
			var st Status
			if err := json.Unmarshal(payload, &st); err != nil {
				return nil, fmt.Errorf("decoding status %.60q: %w", payload, err)
			}
			return &st, nil
		case session.ChannelError:
			return nil, errors.New(strings.TrimSpace(string(payload)))
		}
		if wire.IsInputChannel(ch) {
			return nil, fmt.Errorf("server asked for input on %q during a status request", ch)
		}
	}
}
