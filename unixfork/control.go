package unixfork

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
)

// Control messages between the master and a worker, one JSON object per
// SOCK_SEQPACKET packet on the worker's fd 3.
//
//	master → worker  init     once, first: configuration and warm-up keys
//	worker → master  ready    the worker is warm and accepting (again) on
//	                          the listening socket it inherited (fd 4)
//	worker → master  accepted the worker took a client from the backlog;
//	                          with duplicates of its connection and of the
//	                          client page attached (handoff.go)
//	worker → master  relay    a command lent the process runs: its fd 1
//	                          and fd 2 pipes' read ends attached
//	worker → master  key      a key reported by Request.UseKey
//	worker → master  deps     the dependencies its Handler declared
//	                          (refresh.go), before ready when they grew
//	worker → master  handover chg's validate found the binary changed:
//	                          hand over to the new one (binary.go)
//	master → worker  handover-failed
//	                          the hand-over it asked for cannot happen
//	                          (Key: why; the new binary failed its probe)
//	worker → master  built    a lazy worker (init's Lazy) built its
//	                          Handler: the constructor works again
//	worker → master  stale    a command found a dependency the Handler
//	                          declared changed (Key: which); the worker
//	                          rebuilt its Handler before running it
//	worker → master  done     the client's session has ended
//	master → worker  drain    shutting down: stop accepting, finish the
//	                          running command, end the session and exit
//	master → worker  ping     are you there? (idle workers silent for a
//	                          second, 5 s in a quiet pool, and at once
//	                          when a client waits while they count as
//	                          ready; see policy.go)
//	worker → master  pong     the answer
//	worker → master  idle     the client has sent nothing and no command
//	                          has run for cmdserver.client-idle-timeout
//	master → worker  evict    clients wait for a worker: close the idle
//	                          client's connection if it is still idle
//	worker → master  status   a client asked for the pool's status
//	master → worker  status   the answer (Status)
//
// An idle worker exits when it reads end of input: the master closed its
// end (shutdown) or died.
const (
	msgInit     = "init"
	msgReady    = "ready"
	msgAccepted = "accepted"
	msgRelay    = "relay"
	msgKey      = "key"
	msgStale    = "stale"
	msgDeps     = "deps"
	msgHandOver = "handover"
	msgBuilt    = "built"
	msgDone     = "done"
	msgDrain    = "drain"
	msgPing     = "ping"
	msgPong     = "pong"
	msgIdle     = "idle"
	msgEvict    = "evict"
	msgEvicted  = "evicted" // the worker closed its idle client (else: idle -1)
	msgStatus   = "status"
	// shell, shell-end: a command's shell started or ended in its own
	// process group (PGID), for the master to hang up if the worker dies
	// without doing so.
	msgShell    = "shell"
	msgShellEnd = "shell-end"
)

// msgHandOverFailed answers a worker's handover that cannot happen.
const msgHandOverFailed = "handover-failed"

// Values of controlMsg.Recycle.
const (
	// recycleCount: cmdserver.worker-reuse reached; recycleRSS:
	// cmdserver.worker-max-rss passed. Both count as recycled.
	recycleCount = "count"
	recycleRSS   = "rss"
	// recycleExit: the worker exits for another reason (it serves one
	// client, the session ended in error, shutdown, the master gone).
	recycleExit = "exit"
)

// controlMsg is the one message type; fields not used by a kind are empty.
type controlMsg struct {
	Type string `json:"type"`

	// init
	// Options are the server's session options, worker settings and
	// WorkerData, the same for every worker (settings.go, workerInit).
	Options  json.RawMessage `json:"options,omitempty"`
	Prewarm  []string        `json:"prewarm,omitempty"`
	LogLevel string          `json:"log_level,omitempty"`
	Rehearse bool            `json:"rehearse,omitempty"` // serve a session to itself before ready
	// Lazy: build the Handler in the first client's first command, not
	// before ready (a worker of the pool died in its constructor).
	Lazy bool `json:"lazy,omitempty"`

	// ready; PGID also in shell and shell-end
	PID  int `json:"pid,omitempty"`
	PGID int `json:"pgid,omitempty"`
	// InitError is set in ready when the Handler could not be built: the
	// worker answers its client with this text on 'e' and exits.
	InitError string `json:"init_error,omitempty"`

	// key; stale: the dependency that changed
	Key string `json:"key,omitempty"`

	// deps
	Deps []wireDep `json:"deps,omitempty"`

	// done
	Status int `json:"status,omitempty"`
	// Recycle is set when the worker exits after this client, and says
	// why: recycleCount, recycleRSS, or recycleExit. Empty: it comes back
	// to the pool, or exits only because restoring its state failed.
	Recycle string `json:"recycle,omitempty"`

	// idle: since when, in milliseconds
	IdleMS int64 `json:"idle_ms,omitempty"`

	// status (master → worker)
	Pool *Status `json:"pool,omitempty"`
}

func sendMsg(c *net.UnixConn, m controlMsg) error {
	b, err := encodeMsg(m)
	if err != nil {
		return err
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("sending %s message: %w", m.Type, err)
	}
	return nil
}

func encodeMsg(m controlMsg) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s message: %w", m.Type, err)
	}
	return b, nil
}

// maxControlMsg bounds one control message (init carries the server's
// configuration and warm-up keys).
const maxControlMsg = 64 << 10

// recvMsg reads one message into buf (maxControlMsg bytes, owned by the
// one goroutine that reads c); io.EOF when the peer has closed its end.
func recvMsg(c *net.UnixConn, buf []byte) (controlMsg, error) {
	var m controlMsg
	n, err := c.Read(buf)
	if err != nil {
		return m, err
	}
	if n == 0 {
		return m, io.EOF // SOCK_SEQPACKET: end of input
	}
	return decodeMsg(buf[:n])
}

// decodeMsg decodes one control message.
func decodeMsg(b []byte) (controlMsg, error) {
	var m controlMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decoding control message %.40q: %w", b, err)
	}
	return m, nil
}
