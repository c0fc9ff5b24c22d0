// Command cmdsrv is the reference command server: a small command set
// (echo, cat, pwd, env, prompt, system, ...) served in every mode of the
// cmdsrv library. See the README for the modes and the commands.
package main

import (
	"os"

	"github.com/cmdsrv/cmdsrv"
)

func main() {
	p := cmdsrv.Program{Name: "cmdsrv", NewHandler: newReferenceHandler, GlobalOptions: true}
	os.Exit(p.Main(os.Args))
}
