package envlist

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSet(t *testing.T) {
	env := []string{"A=1", "CMDSRV_CLIENT=auto", "CMDSRV_CLIENTX=keep", "CMDSRV_CLIENT", "B=2", "CMDSRV_CLIENT=on"}
	orig := append([]string(nil), env...)
	got := Set(env, "CMDSRV_CLIENT", "off")
	want := []string{"A=1", "CMDSRV_CLIENTX=keep", "CMDSRV_CLIENT", "B=2", "CMDSRV_CLIENT=off"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Set = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(env, orig) {
		t.Fatalf("Set changed its argument: %q", env)
	}
}

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

func TestLookup(t *testing.T) {
	env := []string{"A=1", "B=", "A=2", "C"}
	v, ok := Lookup(env, "A")
	require.True(t, ok)
	require.Equal(t, "2", v, "the last entry wins")
	v, ok = Lookup(env, "B")
	require.True(t, ok)
	require.Empty(t, v)
	_, ok = Lookup(env, "C")
	require.False(t, ok, "an entry without '=' names nothing")
	_, ok = Lookup(env, "D")
	require.False(t, ok)
}
