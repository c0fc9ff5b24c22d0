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
