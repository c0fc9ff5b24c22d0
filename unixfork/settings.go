package unixfork

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// configDuration reads a duration setting: a Go duration ("500ms", "2s")
// or a bare number of seconds; "" or absent gives def.
func configDuration(cfg *protocol.Config, key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(cfg.Get(key, ""))
	if v == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s: %q is not a duration (like 500ms, 2s or a number of seconds)", key, v)
	}
	return d, nil
}

// workerSettings are the worker-side cmdserver.* keys, read and checked
// once by the master (a bad value stops the server at start) and sent
// typed in every worker's start-up message: workers parse no setting.
type workerSettings struct {
	// Reuse is cmdserver.worker-reuse, ReuseJitter
	// cmdserver.worker-reuse-jitter (see DefaultWorkerReuse).
	Reuse       int `json:"reuse"`
	ReuseJitter int `json:"reuse_jitter"`
	// MaxRSS is cmdserver.worker-max-rss in bytes.
	MaxRSS int64 `json:"max_rss"`
	// ClientIdle is cmdserver.client-idle-timeout.
	ClientIdle time.Duration `json:"client_idle"`
	// LogToClient is cmdserver.log=-: while a client is connected, its
	// session's events go to that client's 'd' channel.
	LogToClient bool `json:"log_to_client,omitempty"`
}

func readWorkerSettings(cfg *protocol.Config) (workerSettings, error) {
	var ws workerSettings
	var err error
	if ws.Reuse, err = cfg.Int("cmdserver.worker-reuse", DefaultWorkerReuse); err != nil {
		return ws, err
	}
	if ws.ReuseJitter, err = cfg.Int("cmdserver.worker-reuse-jitter", DefaultWorkerReuseJitter); err != nil {
		return ws, err
	}
	if ws.MaxRSS, err = cfg.Bytes("cmdserver.worker-max-rss", DefaultWorkerMaxRSS); err != nil {
		return ws, err
	}
	if ws.ClientIdle, err = configDuration(cfg, "cmdserver.client-idle-timeout", DefaultClientIdleTimeout); err != nil {
		return ws, err
	}
	ws.LogToClient = cfg.Get("cmdserver.log", "") == "-"
	return ws, nil
}

// workerInit is the part of a worker's start-up message (msgInit) that is
// the same for every worker of a server: the session options, the typed
// worker settings and chg's data, encoded once when the server starts.
type workerInit struct {
	// Options is the JSON of initOptions.
	Options json.RawMessage
}

// initOptions is the wire form of the server's protocol.SessionOptions
// and the worker settings.
type initOptions struct {
	// Config is the server-wide configuration as section.name=value.
	Config        []string       `json:"config,omitempty"`
	Dir           string         `json:"dir,omitempty"`
	Traceback     bool           `json:"traceback,omitempty"`
	GlobalOptions bool           `json:"global_options,omitempty"`
	Settings      workerSettings `json:"settings"`
	// Data is Server.WorkerData, for the worker's extension (chg's).
	Data []byte `json:"data,omitempty"`
}

// newWorkerInit reads the worker settings from opts.Config and encodes
// opts, them and data for the workers' start-up messages.
func newWorkerInit(opts protocol.SessionOptions, data []byte) (workerInit, error) {
	cfg := opts.ConfigOrEmpty()
	ws, err := readWorkerSettings(cfg)
	if err != nil {
		return workerInit{}, err
	}
	enc := initOptions{
		Config:        configOptions(cfg),
		Dir:           opts.Dir,
		Traceback:     opts.Traceback,
		GlobalOptions: opts.GlobalOptions,
		Settings:      ws,
		Data:          data,
	}
	b, err := json.Marshal(enc)
	if err != nil {
		return workerInit{}, fmt.Errorf("encoding the workers' start-up options: %w", err)
	}
	return workerInit{Options: b}, nil
}

// message is a worker's start-up message: this and its own prewarm keys.
func (wi workerInit) message(prewarm []string, logLevel string, rehearse, lazy bool) controlMsg {
	return controlMsg{Type: msgInit, Options: wi.Options, Prewarm: prewarm, LogLevel: logLevel, Rehearse: rehearse && !lazy, Lazy: lazy}
}

// decodeInit is the worker's side of newWorkerInit: the session options
// (Config applied) and settings its sessions start from, and the
// extension's data.
func decodeInit(m controlMsg) (protocol.SessionOptions, workerSettings, []byte, error) {
	var enc initOptions
	if err := json.Unmarshal(m.Options, &enc); err != nil {
		return protocol.SessionOptions{}, workerSettings{}, nil, fmt.Errorf("decoding the start-up options: %w", err)
	}
	cfg := &protocol.Config{}
	if err := cfg.Apply(enc.Config); err != nil {
		return protocol.SessionOptions{}, workerSettings{}, nil, err
	}
	opts := protocol.SessionOptions{Config: cfg, Dir: enc.Dir, Traceback: enc.Traceback, GlobalOptions: enc.GlobalOptions}
	return opts, enc.Settings, enc.Data, nil
}
