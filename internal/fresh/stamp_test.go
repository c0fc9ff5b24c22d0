package fresh

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStamps: a stamp taken before a process starts tells it that a file
// changed under its initialisation: rewritten, removed, or created.
func TestStamps(t *testing.T) {
	dir := t.TempDir()
	conf, missing := filepath.Join(dir, "conf"), filepath.Join(dir, "missing")
	require.NoError(t, os.WriteFile(conf, []byte("one\n"), 0o644))
	stamps := Stamps([]string{conf, missing, ""})

	_, changed := StampsChanged(stamps)
	require.False(t, changed, "nothing changed")

	require.NoError(t, os.WriteFile(conf, []byte("two, longer\n"), 0o644))
	path, changed := StampsChanged(stamps)
	require.True(t, changed)
	require.Equal(t, conf, path)

	stamps = Stamps([]string{conf, missing})
	require.NoError(t, os.WriteFile(missing, nil, 0o644))
	path, changed = StampsChanged(stamps)
	require.True(t, changed, "created")
	require.Equal(t, missing, path)

	_, changed = StampsChanged("not json")
	require.False(t, changed)
}
