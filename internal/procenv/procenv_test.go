package procenv

import (
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplace: the process environment becomes exactly the one asked
// for, however it differs: names dropped, changed, added, given twice.
func TestReplace(t *testing.T) {
	saved := os.Environ()
	t.Cleanup(func() { require.NoError(t, Replace(saved)) })
	require.NoError(t, Replace([]string{"KEEP=same", "CHANGE=old", "DROP=x"}))
	require.NoError(t, Replace([]string{"KEEP=same", "CHANGE=new", "ADD=1", "TWICE=a", "TWICE=b", "EMPTY="}))
	got := os.Environ()
	slices.Sort(got)
	require.Equal(t, []string{"ADD=1", "CHANGE=new", "EMPTY=", "KEEP=same", "TWICE=b"}, got)
}
