package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestNodeHgInterop drives the binary with the real node-hg (npm `hg`
// 0.3.3, installed by .ci/run with `npm ci --prefix
// cmd/cmdsrv/testdata/nodehg`), which runs `hg` from PATH with its global
// options before `serve` and, under NODE_ENV=test, `--config
// ui.username=test` after `pipe`. A command writing to fd 1 must not break
// its frame reader, and its child.kill() (SIGTERM) must end the server as
// it ends hg: status 255, "killed!".
func TestNodeHgInterop(t *testing.T) {
	node := testutil.NeedExternal(t, "node")
	dir, err := filepath.Abs(filepath.Join("testdata", "nodehg"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hg", "package.json")); err != nil {
		testutil.Missing(t, "node-hg not installed (npm ci --prefix cmd/cmdsrv/testdata/nodehg): %v", err)
	}
	// node-hg runs "hg": ours comes first on PATH.
	bin := t.TempDir()
	require.NoError(t, os.Symlink(testutil.Binary(t), filepath.Join(bin, "hg")))
	repo := t.TempDir()
	cmd := exec.Command(node, filepath.Join(dir, "interop.js"), repo)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "NODE_ENV=test")
	out, err := cmd.Output()
	require.NoError(t, err, "node-hg run: %s", out)

	var report struct {
		Hello *struct {
			Capabilities []string
			Encoding     string
		}
		Commands []struct {
			Args          []string
			Output, Error string
			Result        string
		}
		Errors []string
		Exit   *int
		Signal *string
	}
	require.NoError(t, json.Unmarshal(out, &report), "%s", out)
	require.NotNil(t, report.Hello, "%s", out)
	require.Contains(t, report.Hello.Capabilities, "runcommand")
	require.Len(t, report.Commands, 5, "%s", out)
	want := []string{"test\n", "True\n", "debugwritestdout: done\n", "after\n", repo + "\n"}
	for i, c := range report.Commands {
		require.Equal(t, "0", c.Result, "%v: %s", c.Args, out)
		require.Equal(t, want[i], c.Output, "%v", c.Args)
	}
	require.NotNil(t, report.Exit, "%s", out)
	require.Equal(t, 255, *report.Exit, "SIGTERM between requests: %s", out)
	require.Contains(t, strings.Join(report.Errors, ""), "killed!\n")
}
