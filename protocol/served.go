package protocol

// Mode is how a request is served: Request.Mode.
//
// A Handler rarely needs it: the request's fields are right in every mode.
// It is for what only makes sense in one, such as replacing the process
// with a plugin (exec) in a direct run, which would end a server.
type Mode string

// The modes a request is served in. The zero Mode is a request that no
// cmdsrv service built (a test's, an application's own).
const (
	// ModeDirect: the command runs in the process the user started, with
	// its real stdio (CMDSRV_CLIENT=off, or no server could be used).
	ModeDirect Mode = "direct"
	// ModePipe: a pipe server (`serve --cmdserver pipe`), one session
	// over its stdin and stdout, its process shared by every command.
	ModePipe Mode = "pipe"
	// ModeUnix: a worker of `serve --cmdserver unix`, for a client over
	// the socket.
	ModeUnix Mode = "unix"
	// ModeChg: a worker of `serve --cmdserver chgunix`, for chg, cmdsrv-chg
	// or the own client mode, whose stdio it has attached.
	ModeChg Mode = "chg"
)
