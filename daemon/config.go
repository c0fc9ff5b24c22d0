package daemon

import "github.com/cmdsrv/cmdsrv/protocol"

// Defaults of the log keys, as in Mercurial.
const (
	DefaultMaxLogFiles = 7
	DefaultMaxLogSize  = 1 << 20
)

// LogConfig is the server's log set-up, read from the cmdserver.* keys.
type LogConfig struct {
	// Path is cmdserver.log: a file, "-" (stderr, or the 'd' channel while
	// a client is connected), or empty for no log.
	Path string
	// MaxSize (cmdserver.max-log-size: bytes, "500 KB", "1 MB") and
	// MaxFiles (cmdserver.max-log-files) drive rotation.
	MaxSize  int64
	MaxFiles int
	// Tracked is cmdserver.track-log split into event kinds; nil: all.
	Tracked []string
}

// ReadLogConfig reads the log keys of cfg.
func ReadLogConfig(cfg *protocol.Config) (LogConfig, error) {
	lc := LogConfig{Path: cfg.Get("cmdserver.log", "")}
	var err error
	if lc.MaxSize, err = cfg.Bytes("cmdserver.max-log-size", DefaultMaxLogSize); err != nil {
		return lc, err
	}
	if lc.MaxFiles, err = cfg.Int("cmdserver.max-log-files", DefaultMaxLogFiles); err != nil {
		return lc, err
	}
	lc.Tracked = ParseTrackLog(cfg.Get("cmdserver.track-log", ""))
	return lc, nil
}
