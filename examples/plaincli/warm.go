//go:build !plain

package main

import (
	"os"

	"github.com/cmdsrv/cmdsrv"
)

// The CLI made warm: every mode of cmdsrv, the CLI's own code untouched.
// Package initialisation reads $PLAINCLI_GREETING's file: its name picks
// the server and a change of the file restarts it (see docs/adopting.md).
func main() {
	p := cmdsrv.Program{Name: "plaincli", NewHandler: cmdsrv.PlainMain(cliMain),
		ChgOptions: &cmdsrv.ChgOptions{SensitiveEnv: []string{"PLAINCLI_GREETING"}, MtimePaths: []string{os.Getenv("PLAINCLI_GREETING")}}}
	os.Exit(p.Main(os.Args))
}
