//go:build unix

package procstate

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// BenchmarkLend is what lending the process costs a command that does
// nothing.
func BenchmarkLend(b *testing.B) {
	wd, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	req := &protocol.Request{Args: []string{"x"}, Dir: wd, Env: os.Environ(), Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}
	for b.Loop() {
		if _, err := Lend(req, "prog", func() int { return 0 }); err != nil {
			b.Fatal(err)
		}
	}
}
