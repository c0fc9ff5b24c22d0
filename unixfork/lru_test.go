package unixfork

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLRU(t *testing.T) {
	l := newLRU(3)
	for _, k := range []string{"a", "b", "c", "a", "d"} {
		l.add(k)
	}
	require.Equal(t, []string{"d", "a", "c"}, l.list())
	var off *lru = newLRU(0)
	off.add("x")
	require.Empty(t, off.list())
}
