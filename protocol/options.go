package protocol

// SessionOptions are what every session of a server starts from: the
// server's --config, -R and --traceback, and whether requests read
// Mercurial's global options. cmdsrv.Program builds one from the server's
// command line; the pipe, unixfork and chg servers take it whole, and a
// unixfork server hands it whole to its workers in their start-up message,
// so that no mode serves with fewer of them than another.
type SessionOptions struct {
	// Config is the server-wide configuration (--config); each request
	// gets a copy. nil: empty.
	Config *Config
	// Dir is the sessions' starting working directory (-R, absolute);
	// "": the server's own.
	Dir string
	// Traceback adds stack traces to error messages (--traceback).
	Traceback bool
	// GlobalOptions makes every runcommand read Mercurial's global options
	// (--config, --cwd, -R/--repository, --pager, --traceback) from the
	// start of its arguments and apply them to that request only. Off, the
	// arguments reach the Handler untouched: an application's command
	// line is its own.
	GlobalOptions bool
}

// ConfigOrEmpty returns o.Config, or an empty Config when it is nil.
func (o SessionOptions) ConfigOrEmpty() *Config {
	if o.Config == nil {
		return &Config{}
	}
	return o.Config
}
