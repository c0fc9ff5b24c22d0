//go:build unix

package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunForeground drives Run with a fake serve callback: a foreground
// service writes its own pid once ready, and Run returns what serve
// returns.
func TestRunForeground(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "pid")
	served := false
	errServe := errors.New("served and stopped")
	err := Run(context.Background(), Service{PIDFile: pidPath, LogPath: filepath.Join(dir, "log"), MaxLogFiles: 1},
		func(ctx context.Context, sv Serving) error {
			require.False(t, sv.Detaching)
			require.NotNil(t, sv.Log, "the log file is open")
			b, _ := os.ReadFile(pidPath)
			require.Empty(t, b, "no pid before ready")
			sv.Ready()
			sv.Ready() // once only
			b, _ = os.ReadFile(pidPath)
			require.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(b))
			served = true
			require.NoError(t, ctx.Err(), "ready succeeded: the service goes on")
			return errServe
		})
	require.ErrorIs(t, err, errServe)
	require.True(t, served)
}

// TestRunRefusesBadPostexec: a bad instruction is an error before
// anything starts.
func TestRunRefusesBadPostexec(t *testing.T) {
	err := Run(context.Background(), Service{Postexec: []string{"reboot"}},
		func(context.Context, Serving) error { t.Fatal("serve called"); return nil })
	var ie *InvalidPostexecError
	require.ErrorAs(t, err, &ie)
}
