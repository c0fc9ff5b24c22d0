package client_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

func TestRunCommandAgainstCmdsrv(t *testing.T) {
	c := testutil.StartPipe(t, "--config", "ui.interactive=true")
	require.True(t, c.Hello.Has("runcommand"))
	require.Equal(t, c.Process().Pid, c.Hello.PID)

	code, out, _ := testutil.Run(t, c, "echo", "a", "b")
	require.Equal(t, 0, code)
	require.Equal(t, "a b\n", out)

	// Input and line callbacks.
	var stdout strings.Builder
	input := []string{"first ", "second"}
	code, err := c.RunCommand(context.Background(), []string{"cat"}, &client.RunOptions{
		Stdout: &stdout,
		Input: func(size int) ([]byte, error) {
			if len(input) == 0 {
				return nil, nil
			}
			s := input[0]
			input = input[1:]
			return []byte(s), nil
		},
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "first second", stdout.String())

	stdout.Reset()
	code, err = c.RunCommand(context.Background(), []string{"prompt", "name?"}, &client.RunOptions{
		Stdout: &stdout,
		Line:   func(size int) ([]byte, error) { return []byte("alice\n"), nil },
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "name? alice\n", stdout.String())

	enc, err := c.GetEncoding(context.Background())
	require.NoError(t, err)
	require.Equal(t, "UTF-8", enc)
	require.NoError(t, c.Close())
}

func TestMessagesCallback(t *testing.T) {
	c := testutil.StartPipe(t, "--config", "ui.message-output=channel")
	require.Equal(t, "cbor", c.Hello.MessageEncoding)
	var msgs []map[string]string
	code, err := c.RunCommand(context.Background(), []string{"message", "--warn", "careful"}, &client.RunOptions{
		Message: func(m map[string]string) { msgs = append(msgs, m) },
	})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, []map[string]string{{"type": "warning", "data": "careful\n"}}, msgs)
}

// TestConcurrentUse checks that requests from several goroutines are
// serialised: every caller gets exactly its own output.
func TestConcurrentUse(t *testing.T) {
	c := testutil.StartPipe(t)
	var wg sync.WaitGroup
	errs := make(chan string, 80)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				var out strings.Builder
				want := strings.Repeat("x", g*100+i)
				code, err := c.RunCommand(context.Background(), []string{"echo", want}, &client.RunOptions{Stdout: &out})
				if err != nil || code != 0 || out.String() != want+"\n" {
					errs <- out.String()
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("mixed or failed output: %q", e)
	}
}

func TestCancelInterruptsCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		// os.Process.Signal sends only Kill on Windows; a cancelled
		// command there runs to its end.
		t.Skip("a pipe server is interrupted with SIGINT, which Windows cannot send to another process")
	}
	c := testutil.StartPipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stderr strings.Builder
	code, err := c.RunCommand(ctx, []string{"sleep", "30"}, &client.RunOptions{Stderr: &stderr})
	// The pipe server got SIGINT: the command ends with 255 and the
	// session goes on.
	require.NoError(t, err)
	require.Equal(t, 255, code)
	require.Contains(t, stderr.String(), "interrupted!")
	code, out, _ := testutil.Run(t, c, "echo", "still here")
	require.Equal(t, 0, code)
	require.Equal(t, "still here\n", out)
}

// TestAgainstMercurial drives Mercurial's own pipe server, so the client is
// not fitted to cmdsrv alone.
func TestAgainstMercurial(t *testing.T) {
	hg := testutil.NeedExternal(t, "hg")
	repo := t.TempDir()
	cmd := exec.Command(hg, "init", repo)
	cmd.Env = hgEnv(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	srv := exec.Command(hg, "serve", "--cmdserver", "pipe", "-R", repo)
	srv.Env = hgEnv(t)
	c, err := client.StartCommand(srv)
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Hello.Has("runcommand"))

	var stdout strings.Builder
	code, err := c.RunCommand(context.Background(), []string{"root"}, &client.RunOptions{Stdout: &stdout})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	real, _ := filepath.EvalSymlinks(repo)
	require.Equal(t, real+"\n", stdout.String())

	var stderr strings.Builder
	code, err = c.RunCommand(context.Background(), []string{"cat", "no-such-file"}, &client.RunOptions{Stderr: &stderr})
	require.NoError(t, err)
	require.Equal(t, 255, code)
	require.Contains(t, stderr.String(), "abort:")

	enc, err := c.GetEncoding(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, enc)
	require.NoError(t, c.Close())
}

// hgEnv isolates hg from the user's configuration.
func hgEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "HGRCPATH=", "HGPLAIN=1", "LANG=C")
}

// TestDirAndEnvNeedTheServersRequests: a pipe server takes no command
// directory or environment (it has those it was started with): asking
// for them is an error before anything is sent, and the session goes on.
func TestDirAndEnvNeedTheServersRequests(t *testing.T) {
	c := testutil.StartPipe(t)
	require.False(t, c.Hello.Has("chdir"))
	_, err := c.RunCommand(context.Background(), []string{"pwd"}, &client.RunOptions{Dir: t.TempDir()})
	require.ErrorContains(t, err, "does not take a command's directory")
	_, err = c.RunCommand(context.Background(), []string{"pwd"}, &client.RunOptions{Env: []string{"A=b"}})
	require.ErrorContains(t, err, "does not take a command's environment")
	code, out, _ := testutil.Run(t, c, "echo", "still", "here")
	require.Equal(t, 0, code)
	require.Equal(t, "still here\n", out)
}
