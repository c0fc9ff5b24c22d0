// Package examples_test drives the example applications as their users
// would: over a pipe, over the unix service, and through the real chg.
package examples_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

func startPipe(t *testing.T, bin string, args ...string) *client.Client {
	t.Helper()
	c, err := client.StartPipe(context.Background(), bin, args...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWordindexPipe(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/wordindex", "wordindex")
	direct, err := exec.Command(bin, "prefix", "gra", "5").Output()
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(string(direct)), "\n"), 5)

	c := startPipe(t, bin)
	code, out, _ := testutil.Run(t, c, "prefix", "gra", "5")
	require.Equal(t, 0, code)
	require.Equal(t, string(direct), out, "served and direct answers agree")

	// The index is built once: the pid that answers stays the same.
	_, stats1, _ := testutil.Run(t, c, "stats")
	_, stats2, _ := testutil.Run(t, c, "stats")
	require.Equal(t, stats1, stats2)
	require.Contains(t, stats1, "source: generated")

	code, _, _ = testutil.Run(t, c, "has", "no-such-word")
	require.Equal(t, 1, code)
}

func TestGreetPipe(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/greet", "greet")
	c := startPipe(t, bin, "--config", "ui.interactive=true")
	code, out, _ := testutil.Run(t, c, "hello", "--shout", "ann")
	require.Equal(t, 0, code)
	require.Equal(t, "HELLO ANN\n", out)
	// A flag of one request does not leak into the next.
	code, out, _ = testutil.Run(t, c, "hello", "ann")
	require.Equal(t, 0, code)
	require.Equal(t, "hello ann\n", out)
	// greet's arguments are its own: no --cwd of hg's here.
	code, _, _ = testutil.Run(t, c, "--cwd", "/tmp", "where")
	require.Equal(t, 1, code)
	code, _, _ = testutil.Run(t, c, "fail", "4")
	require.Equal(t, 4, code)

	var stdout strings.Builder
	code, err := c.RunCommand(context.Background(), []string{"ask", "who?"}, &client.RunOptions{
		Stdout: &stdout,
		Line:   func(int) ([]byte, error) { return []byte("zoe\n"), nil },
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "who? answer: zoe\n", stdout.String())
}

// startUnix runs bin's unix service on a fresh socket and stops it at the
// end of the test.
func startUnix(t *testing.T, bin string) string {
	t.Helper()
	addr := filepath.Join(testutil.ShortDir(t), "s")
	cmd := exec.Command(bin, "serve", "--cmdserver", "unix", "--address", addr)
	cmd.Stderr = &testutil.SyncBuffer{}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		c, err := client.Dial(context.Background(), addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)
	return addr
}

func TestExamplesUnix(t *testing.T) {
	for _, app := range []struct{ pkg, name, want string }{
		{"./examples/wordindex", "wordindex", "source: generated"},
		{"./examples/greet", "greet", "hello unix"},
	} {
		t.Run(app.name, func(t *testing.T) {
			bin := testutil.BuildCommand(t, app.pkg, app.name)
			addr := startUnix(t, bin)
			c, err := client.Dial(context.Background(), addr)
			require.NoError(t, err)
			defer c.Close()
			args := []string{"stats"}
			if app.name == "greet" {
				args = []string{"hello", "unix"}
			}
			code, out, _ := testutil.Run(t, c, args...)
			require.Equal(t, 0, code)
			require.Contains(t, out, app.want)
		})
	}
}

// TestExamplesThroughChg runs the examples through Mercurial's real chg:
// the applications are chg's back end with nothing else to write.
func TestExamplesThroughChg(t *testing.T) {
	chg := testutil.NeedExternal(t, "chg")
	for _, app := range []struct {
		pkg, name string
		args      []string
		want      string
	}{
		{"./examples/wordindex", "wordindex", []string{"prefix", "gra", "3"}, ""},
		{"./examples/greet", "greet", []string{"hello", "--shout", "chg"}, "HELLO CHG\n"},
	} {
		t.Run(app.name, func(t *testing.T) {
			bin := testutil.BuildCommand(t, app.pkg, app.name)
			sockDir := testutil.ShortDir(t)
			t.Cleanup(func() { os.RemoveAll(sockDir) }) // the server exits when its socket is gone
			want := app.want
			if want == "" {
				direct, err := exec.Command(bin, app.args...).Output()
				require.NoError(t, err)
				want = string(direct)
			}
			for i := 0; i < 2; i++ { // the first call starts the server
				cmd := exec.Command(chg, app.args...)
				cmd.Env = append(os.Environ(), "CHGHG="+bin, "CHGSOCKNAME="+filepath.Join(sockDir, "s"))
				out, err := cmd.Output()
				require.NoError(t, err)
				require.Equal(t, want, string(out))
			}
		})
	}
}

// TestTour runs the README's first command: the tour answers its commands
// cold, then warm from one pipe server whose pid stays the same.
func TestTour(t *testing.T) {
	bin := testutil.BuildCommand(t, "./examples/tour", "tour")
	out, err := exec.Command(bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var warmPIDs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "runcommand count") {
			_, rest, _ := strings.Cut(line, "(pid ")
			pid, _, _ := strings.Cut(rest, ",")
			warmPIDs = append(warmPIDs, pid)
		}
	}
	require.Len(t, warmPIDs, 3, "%s", out)
	require.Equal(t, warmPIDs[0], warmPIDs[2], "one server answers every warm call:\n%s", out)
	require.Contains(t, string(out), "3 words", "%s", out)
}
