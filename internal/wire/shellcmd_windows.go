package wire

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// shellCommand returns the command that runs cmd with the command
// interpreter, %COMSPEC% (cmd.exe), as Mercurial does on Windows:
// `cmd.exe /s /c "cmd"`. COMSPEC is taken from the command's environment
// (Windows spells it ComSpec; names are case-insensitive there), then the
// server's.
//
// The command line is written out whole rather than built from arguments:
// Go would quote cmd for the C runtime's parser (backslash-escaped quotes),
// which cmd.exe does not use. With /s, cmd.exe drops the first and the last
// quote of what follows /c and runs the rest as it stands, whatever quotes
// and special characters it holds.
func shellCommand(ctx context.Context, sh Shell, cmd string) *exec.Cmd {
	comspec := ""
	for _, kv := range sh.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "COMSPEC") {
			comspec = v // the last one wins, as in the os package
		}
	}
	if comspec == "" {
		comspec = os.Getenv("COMSPEC")
	}
	if comspec == "" {
		comspec = "cmd.exe"
	}
	c := exec.CommandContext(ctx, comspec)
	c.SysProcAttr = &syscall.SysProcAttr{CmdLine: `"` + comspec + `" /s /c "` + cmd + `"`}
	return c
}
