package unixfork

import "github.com/cmdsrv/cmdsrv/internal/proctitle"

// The process title a reused worker restores between clients is what
// chg's setprocname sets: comm on Linux, the argument string on FreeBSD,
// nothing elsewhere (internal/proctitle).

func readTitle() string { return proctitle.Get() }

func writeTitle(t string) error {
	if !proctitle.Supported {
		return nil
	}
	return proctitle.Set(t)
}
