package chg

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/protocol"
)

func TestConfigHashSensitivity(t *testing.T) {
	cfg := &protocol.Config{}
	base := []string{"PATH=/bin", "HOME=/root"}
	h := ConfigHash(cfg, base, nil)
	// Variables that change what commands do ask for another server.
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "LANG=fr_FR.UTF-8"), nil))
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "CMDSRV_DEBUG_INIT_DELAY=1s"), nil))
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "MYAPP_MODE=x"), &Options{SensitiveEnv: []string{"MYAPP_*"}}))
	// Packages derive paths from these when they load.
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "HOME=/elsewhere"), nil))
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "USER=other"), nil))
	require.NotEqual(t, h, ConfigHash(cfg, append(base, "XDG_CONFIG_HOME=/cfg"), nil))
	// Others, and the client mode's own variables, do not.
	require.Equal(t, h, ConfigHash(cfg, append(base, "TERM=dumb", "EDITOR=vi"), nil))
	require.Equal(t, h, ConfigHash(cfg, append(base, "CMDSRV_CLIENT=auto", "CMDSRV_DEBUG=1", "CMDSRV_SOCKNAME=/tmp/s"), nil))
}

// FuzzWorkerExtension: whatever start-up data a worker receives, decoding
// it returns an error or an extension, never a panic; chg's own encoding
// round-trips.
func FuzzWorkerExtension(f *testing.F) {
	f.Add(workerData{State: &State{BaseAddress: "/s", ConfigHash: "abc", MtimeHash: "d", MtimePaths: []string{"/x"}}}.encode())
	f.Add(workerData{}.encode())
	f.Add([]byte(`{"state":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ext, err := workerExtension(data)
		if len(data) == 0 && (ext != nil || err != nil) {
			t.Fatalf("no data: a plain worker, got %v, %v", ext != nil, err)
		}
		if err == nil && len(data) > 0 && ext == nil {
			t.Fatalf("%q decoded without an extension", data)
		}
	})
}
