package main

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

// TestLogFileModeAndPanicLine: the log file is the server user's alone
// (0600 under a umask of 022), and a panicking command's line names the
// command and carries the stack, but its arguments (tokens, passwords)
// only at debug level.
func TestLogFileModeAndPanicLine(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			dir := testutil.ShortDir(t)
			logPath, sock := filepath.Join(dir, "log"), filepath.Join(dir, "s")
			cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", sock, "--daemon",
				"--pid-file", filepath.Join(dir, "pid"), "--config", "cmdserver.log="+logPath)
			cmd.Env = append(os.Environ(), "CMDSRV_LOG_LEVEL="+level)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "output: %s", out)
			pid := testutil.ReadPIDFile(t, filepath.Join(dir, "pid"))
			t.Cleanup(func() { testutil.Terminate(t, pid, 20*time.Second) })

			fi, err := os.Stat(logPath)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

			c, err := client.Dial(context.Background(), sock)
			require.NoError(t, err)
			defer c.Close()
			code, _, errOut := testutil.Run(t, c, "debugcrash", "--password=s3cr3t-token")
			require.Equal(t, 255, code)
			require.Equal(t, "abort: command panicked: debugcrash\n", errOut)

			var log string
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(logPath)
				log = string(b)
				return strings.Contains(log, "command panicked") && (level != "debug" || strings.Contains(log, "arguments of the command"))
			}, 20*time.Second, 10*time.Millisecond)
			line := log[strings.Index(log, "command panicked"):]
			require.Contains(t, line, "command=debugcrash")
			require.Contains(t, line, "goroutine ", "the stack")
			if level == "debug" {
				require.Contains(t, log, "s3cr3t-token", "arguments at debug level")
			} else {
				require.NotContains(t, log, "s3cr3t-token", "no arguments above debug level")
			}
		})
	}
}
