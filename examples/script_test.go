//go:build unix

package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestScripts runs testdata/script/*.txtar against the example binaries
// (built once, first on the scripts' PATH): an application's own command
// line in a direct run, through the client mode and through the real chg.
func TestScripts(t *testing.T) {
	greet := testutil.BuildCommand(t, "./examples/greet", "greet")
	if _, err := exec.LookPath("chg"); err != nil {
		testutil.NeedExternal(t, "chg") // fails under CMDSRV_REQUIRE_INTEROP=1
	}
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: testutil.ScriptCmds(),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(greet)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("GREET", greet)
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			env.Setenv("XDG_RUNTIME_DIR", env.WorkDir)
			return nil
		},
	})
}
