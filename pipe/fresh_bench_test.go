package pipe

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// depsHandler answers every command at once; its state declares n files.
type depsHandler struct {
	protocol.Deps
}

func (h *depsHandler) ServeCommand(context.Context, *protocol.Request) int { return 0 }

// BenchmarkFreshCheck is a pipe round trip (runcommand of a command that
// does nothing) without a constructor (no check), and with one whose
// Handler declared 0 or 10 files: the check before every command, and
// the watcher, are in the second figure. The target: at most
// 20 us more per round trip with 10 dependencies.
func BenchmarkFreshCheck(b *testing.B) {
	for _, n := range []int{-1, 0, 10} {
		name := "no-rebuild"
		if n >= 0 {
			name = fmt.Sprintf("deps-%d", n)
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			var paths []string
			for i := 0; i < n; i++ {
				p := filepath.Join(dir, fmt.Sprint(i))
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
				// Old files: the stat decides, as for any file not
				// written in the last two seconds.
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(p, old, old); err != nil {
					b.Fatal(err)
				}
				paths = append(paths, p)
			}
			build := func() (protocol.Handler, error) {
				h := &depsHandler{}
				h.DependOn(paths...)
				return h, nil
			}
			h, _ := build()
			srv := &Server{Handler: h}
			if n >= 0 {
				srv.Rebuild = build
			}
			inR, inW, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			outR, outW, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- srv.Serve(context.Background(), inR, outW)
				outW.Close()
			}()
			c, err := client.New(outR, inW)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			opts := &client.RunOptions{Stdout: io.Discard, Stderr: io.Discard}
			args := []string{"true"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.RunCommand(ctx, args, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			inW.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			inR.Close()
			outR.Close()
		})
	}
}
