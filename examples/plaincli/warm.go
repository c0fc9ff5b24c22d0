//go:build !plain

package main

import (
	"os"

	"github.com/cmdsrv/cmdsrv"
)

// The CLI made warm: every mode of cmdsrv, the CLI's own code untouched.
// Package initialisation reads $PLAINCLI_GREETING's file: a server
// follows it (InitFiles), and a client with another value gets a server
// of its own (see docs/adopting.md).
func main() {
	p := cmdsrv.Program{Name: "plaincli", NewHandler: cmdsrv.PlainMain(cliMain),
		InitFiles:  []string{os.Getenv("PLAINCLI_GREETING")},
		ChgOptions: &cmdsrv.ChgOptions{SensitiveEnv: []string{"PLAINCLI_GREETING"}}}
	os.Exit(p.Main(os.Args))
}
