package cmdsrv

import (
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/chgclient"
)

// The client mode's variables are spelled out in this package's API (go doc
// shows their values) and used by chgclient: they must agree.
func TestClientModeEnvMatchesChgclient(t *testing.T) {
	if SockNameEnv != chgclient.SockNameEnv || DebugEnv != chgclient.DebugEnv {
		t.Fatalf("SockNameEnv %q / %q, DebugEnv %q / %q", SockNameEnv, chgclient.SockNameEnv, DebugEnv, chgclient.DebugEnv)
	}
}
