package unixfork

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/session"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// helloOnce connects to addr and reads the hello.
func helloOnce(b *testing.B, addr string) {
	c, err := net.Dial("unix", addr)
	if err != nil {
		b.Fatal(err)
	}
	ch, _, _, err := wire.ReadFrame(c, 0)
	if err != nil || ch != 'o' {
		b.Fatalf("hello: %q %v", ch, err)
	}
	c.Close()
}

// BenchmarkConnectToHello measures connect-to-hello latency: the warm pool
// next to an in-process goroutine-per-connection floor, a worker started
// on demand for every client, and Mercurial's own fork-per-client server.
func BenchmarkConnectToHello(b *testing.B) {
	b.Run("goroutine-floor", func(b *testing.B) {
		dir, _ := os.MkdirTemp("/tmp", "ufb")
		defer os.RemoveAll(dir)
		ln, err := net.Listen("unix", filepath.Join(dir, "s"))
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		h := protocol.HandlerFunc(func(context.Context, *protocol.Request) int { return 0 })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					s := &session.Session{Handler: h}
					_ = s.Serve(context.Background(), c, c)
				}()
			}
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			helloOnce(b, ln.Addr().String())
		}
	})
	b.Run("warm-pool", func(b *testing.B) {
		ts := startServer(b, "cmdserver.workers=2")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ts.waitIdle(b, 2) // a full pool: measure the hand-off, not the refill
			b.StartTimer()
			helloOnce(b, ts.addr)
		}
	})
	b.Run("on-demand", func(b *testing.B) {
		ts := startServer(b, "cmdserver.workers=0", "cmdserver.worker-reuse=1") // a start per client
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			helloOnce(b, ts.addr)
		}
	})
	b.Run("hg", func(b *testing.B) {
		hg, err := exec.LookPath("hg")
		if err != nil {
			b.Skip("hg not installed")
		}
		dir, _ := os.MkdirTemp("/tmp", "ufh")
		defer os.RemoveAll(dir)
		addr := filepath.Join(dir, "s")
		cmd := exec.Command(hg, "serve", "--cmdserver", "unix", "--address", addr)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HGPLAIN=1", "HGRCPATH=")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		waitFor(b, "hg socket", func() bool {
			c, err := net.Dial("unix", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			helloOnce(b, addr)
		}
	})
}

// BenchmarkSequentialClients: 100 clients one after another, one trivial
// command each, against the real cmdsrv binary with a 200 ms constructor;
// calls/sec with one client per worker and at the default configuration
// (workers reused).
func BenchmarkSequentialClients(b *testing.B) {
	for _, reuse := range []string{"1", "default"} {
		b.Run("worker-reuse="+reuse, func(b *testing.B) {
			dir, _ := os.MkdirTemp("/tmp", "ufs")
			defer os.RemoveAll(dir)
			addr := filepath.Join(dir, "s")
			args := []string{"serve", "--cmdserver", "unix", "--address", addr}
			if reuse != "default" {
				args = append(args, "--config", "cmdserver.worker-reuse="+reuse)
			}
			cmd := exec.Command(testutil.Binary(b), args...)
			cmd.Env = append(os.Environ(), "CMDSRV_DEBUG_INIT_DELAY=200ms", "CMDSRV_LOG_LEVEL=warn")
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.HasPrefix(line, "listening at") {
				b.Fatalf("server did not start: %q %v", line, err)
			}
			time.Sleep(400 * time.Millisecond) // let the pool warm up
			ctx := context.Background()
			const clients = 100
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for j := 0; j < clients; j++ {
					c, err := client.Dial(ctx, addr)
					if err != nil {
						b.Fatal(err)
					}
					if code, err := c.RunCommand(ctx, []string{"echo", "hi"}, nil); err != nil || code != 0 {
						b.Fatalf("echo: %d %v", code, err)
					}
					c.Close()
				}
			}
			b.ReportMetric(float64(b.N*clients)/time.Since(start).Seconds(), "calls/sec")
		})
	}
}
