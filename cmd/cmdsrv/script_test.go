//go:build unix

package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestScripts runs the command-line forms of testdata/script/*.txtar
// against the real binary (this test binary, as `cmdsrv`).
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

// scriptParams are the testscript parameters of cmdsrv's scripts: the
// protocol commands of testutil, and [exec:chg] and friends as conditions.
func scriptParams(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:  dir,
		Cmds: testutil.ScriptCmds(),
		Setup: func(env *testscript.Env) error {
			// A race-enabled helper would sleep 1 s at every exit.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			env.Setenv("XDG_RUNTIME_DIR", env.WorkDir)
			if os.Getenv(testutil.RequireInteropEnv) == "1" {
				env.Setenv(testutil.RequireInteropEnv, "1")
			}
			return nil
		},
	}
}
