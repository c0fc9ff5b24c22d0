package unixfork

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// TestReadSettings: the pool's keys, the legacy cmdserver.workers as the
// default of both spare bounds, durations as Go durations or seconds
// (spaces around them allowed), and a clear error naming a bad key.
func TestReadSettings(t *testing.T) {
	read := func(opts ...string) (settings, error) {
		cfg := &protocol.Config{}
		require.NoError(t, cfg.Apply(opts))
		return (&Server{Session: protocol.SessionOptions{Config: cfg}}).readSettings()
	}
	st, err := read()
	require.NoError(t, err)
	require.Equal(t, DefaultMinSpareWorkers, st.minSpare)
	require.Equal(t, DefaultWorkerAnswerTimeout, st.answerTimeout)

	st, err = read("cmdserver.workers= 3 ", "cmdserver.spare-idle-timeout= 1.5 ", "cmdserver.worker-answer-timeout=250ms")
	require.NoError(t, err)
	require.Equal(t, 3, st.minSpare)
	require.Equal(t, 3, st.maxSpare)
	require.Equal(t, 1500*time.Millisecond, st.spareIdle)
	require.Equal(t, 250*time.Millisecond, st.answerTimeout)

	for key, bad := range map[string]string{
		"cmdserver.workers":              "many",
		"cmdserver.max-clients":          "x",
		"cmdserver.worker-start-timeout": "soon",
		"cmdserver.worker-reuse":         "often",
		"cmdserver.worker-max-rss":       "big",
	} {
		_, err := read(key + "=" + bad)
		require.ErrorContains(t, err, key, "a bad %s is refused, by name", key)
	}
}

// TestWorkerInitRoundTrip: what the master encodes once for its workers
// (session options, typed worker settings, WorkerData) is what a worker
// decodes, settings parsed by the master alone.
func TestWorkerInitRoundTrip(t *testing.T) {
	cfg := &protocol.Config{}
	require.NoError(t, cfg.Apply([]string{"cmdserver.worker-reuse=7", "cmdserver.worker-reuse-jitter=0",
		"cmdserver.worker-max-rss=2M", "cmdserver.client-idle-timeout=1.5", "cmdserver.log=-", "ui.x=y"}))
	opts := protocol.SessionOptions{Config: cfg, Dir: "/repo", Traceback: true, GlobalOptions: true}
	wi, err := newWorkerInit(opts, []byte("chg"))
	require.NoError(t, err)
	m := wi.message([]string{"k"}, "debug", true, false)
	got, set, data, err := decodeInit(m)
	require.NoError(t, err)
	require.Equal(t, "/repo", got.Dir)
	require.True(t, got.Traceback)
	require.True(t, got.GlobalOptions)
	require.Equal(t, cfg.Keys(), got.Config.Keys())
	require.Equal(t, "y", got.Config.Get("ui.x", ""))
	require.Equal(t, workerSettings{Reuse: 7, MaxRSS: 2 << 20, ClientIdle: 1500 * time.Millisecond, LogToClient: true}, set)
	require.Equal(t, []byte("chg"), data)
	require.Equal(t, []string{"k"}, m.Prewarm)

	_, err = newWorkerInit(protocol.SessionOptions{Config: configOf(t, "cmdserver.client-idle-timeout=soon")}, nil)
	require.ErrorContains(t, err, "cmdserver.client-idle-timeout")
}

func configOf(t *testing.T, opts ...string) *protocol.Config {
	cfg := &protocol.Config{}
	require.NoError(t, cfg.Apply(opts))
	return cfg
}
