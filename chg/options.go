package chg

import "github.com/cmdsrv/cmdsrv/internal/chgclient"

// Options tune the chg extensions and the server. The zero value (or nil)
// gives the defaults.
type Options struct {
	// SensitiveEnv adds environment variables to those whose values select
	// a server: a client whose values differ is redirected to another one.
	// The defaults are DefaultSensitiveEnv (CHGHG, PATH, LANG, LANGUAGE,
	// LC_*, TZ, HOME, USER, XDG_* and CMDSRV_*, besides the client-only CMDSRV_CLIENT,
	// CMDSRV_DEBUG, CMDSRV_SOCKNAME and CMDSRV_APP). A trailing '*' matches
	// a prefix.
	SensitiveEnv []string
	// SensitiveConfig lists configuration keys ("section.name") or whole
	// sections ("section") whose values select a server. Default: none.
	SensitiveConfig []string
	// MtimePaths are files besides the executable whose mtime and size
	// make a server outdated when they change (configuration files the
	// application read at start-up, say).
	MtimePaths []string
}

// DefaultSensitiveEnv are the environment variables whose values select a
// server: a client whose values differ is redirected to another one.
// CHGHG is among them so that two applications never share a server.
// HOME, USER and the XDG_* directories are because Go packages derive
// configuration and cache paths from them when they load (os.UserHomeDir,
// os.UserConfigDir), state a worker cannot rebuild for another client.
var DefaultSensitiveEnv = []string{"CHGHG", "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "HOME", "USER", "XDG_*", "CMDSRV_*"}

// clientOnlyEnv are variables that only steer cmdsrv's own client mode and
// the thin client cmd/cmdsrv-chg (which socket, whether to use one, debug
// lines, which binary); they change nothing in the server, so they never
// ask for another one.
var clientOnlyEnv = map[string]bool{chgclient.ClientEnv: true, chgclient.DebugEnv: true, chgclient.SockNameEnv: true, chgclient.AppEnv: true}
