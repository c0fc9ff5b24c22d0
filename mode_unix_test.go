//go:build unix

package cmdsrv

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestSocketRequestsKnowTheirMode: a request served by a unix worker says
// "unix", one served by a chgunix worker "chg" (the test binary as a
// Program, its workers re-executions of it).
func TestSocketRequestsKnowTheirMode(t *testing.T) {
	for _, mode := range []string{"unix", "chgunix"} {
		t.Run(mode, func(t *testing.T) {
			sock := filepath.Join(testutil.ShortDir(t), "s")
			cmd := directHelper(t, "serve", "--cmdserver", mode, "--address", sock, "--config", "chgserver.skiphash=true")
			require.NoError(t, cmd.Start())
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var c *client.Client
			for {
				var err error
				if c, err = client.Dial(ctx, sock); err == nil {
					break
				}
				require.NoError(t, ctx.Err(), "the server never answered: %v", err)
				time.Sleep(20 * time.Millisecond)
			}
			defer c.Close()
			var out strings.Builder
			code, err := c.RunCommand(ctx, []string{"mode"}, &client.RunOptions{Stdout: &out})
			require.NoError(t, err)
			require.Equal(t, 0, code)
			want := map[string]string{"unix": "unix\n", "chgunix": "chg\n"}[mode]
			require.Equal(t, want, out.String())
		})
	}
}
