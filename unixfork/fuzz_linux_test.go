package unixfork

import "testing"

// FuzzParseBacklogReply: whatever the kernel (or anything else) answers,
// the sock_diag reply parser returns a length or an error.
func FuzzParseBacklogReply(f *testing.F) {
	f.Add(backlogRequest(42))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseBacklogReply(b)
		if err == nil && n < 0 {
			t.Fatalf("negative length %d", n)
		}
	})
}
