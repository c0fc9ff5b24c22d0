//go:build !plain

package main

import (
	"os"

	"github.com/cmdsrv/cmdsrv"
)

// The CLI made warm: every mode of cmdsrv, the CLI's own code untouched.
func main() {
	p := cmdsrv.Program{Name: "plaincli", NewHandler: cmdsrv.PlainMain(cliMain)}
	os.Exit(p.Main(os.Args))
}
