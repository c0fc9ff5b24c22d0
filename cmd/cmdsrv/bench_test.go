package main

import (
	"context"
	"github.com/rogpeppe/go-internal/testscript"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// echoHelperEnv makes the test binary, re-executed by the benchmark, echo
// its stdin to its stdout instead of running tests: the raw pipe
// ping-pong that a command round trip is compared with.
const echoHelperEnv = "CMDSRV_TEST_ECHO_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(echoHelperEnv) == "1" {
		buf := make([]byte, 4096)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				if _, werr := os.Stdout.Write(buf[:n]); werr != nil {
					os.Exit(1)
				}
			}
			if err != nil {
				os.Exit(0)
			}
		}
	}
	// The test binary is also `cmdsrv` itself for the scripts of
	// script_test.go (chosen by the basename of os.Args[0]).
	testscript.Main(m, map[string]func(){"cmdsrv": main})
}

// rawNsPerOp is the raw ping-pong's time per round trip, measured first
// in the same run, so the others report their ratio to it.
var rawNsPerOp float64

func reportRatio(b *testing.B) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	if rawNsPerOp > 0 {
		b.ReportMetric(ns/rawNsPerOp, "x-raw")
	}
}

// BenchmarkRoundTrip compares, over real pipes to real child processes:
// a raw ping-pong of 16 bytes, runcommand `true` on cmdsrv's pipe server,
// and `hg root` on `hg serve --cmdserver pipe` when hg is installed.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw-pingpong", func(b *testing.B) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), echoHelperEnv+"=1")
		in, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { in.Close(); _ = cmd.Wait() }()
		msg := []byte("runcommand\n\x00\x00\x00\x04")
		back := make([]byte, len(msg))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := in.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(out, back); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		rawNsPerOp = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("cmdsrv-true", func(b *testing.B) {
		c, err := client.StartPipe(context.Background(), testutil.Binary(b))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchRunCommand(b, c, "true")
	})
	b.Run("hg-root", func(b *testing.B) {
		hg, err := exec.LookPath("hg")
		if err != nil {
			b.Skip("hg not installed")
		}
		repo := b.TempDir()
		initCmd := exec.Command(hg, "init", repo)
		initCmd.Env = hgEnv()
		if out, err := initCmd.CombinedOutput(); err != nil {
			b.Fatalf("hg init: %v\n%s", err, out)
		}
		cmd := exec.Command(hg, "serve", "--cmdserver", "pipe")
		cmd.Dir, cmd.Env = repo, hgEnv()
		c, err := client.StartCommand(cmd)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchRunCommand(b, c, "root")
	})
}

// hgEnv runs hg without the user's configuration.
func hgEnv() []string {
	return append(os.Environ(), "HGPLAIN=1", "HGRCPATH=", "HGUSER=bench")
}

func benchRunCommand(b *testing.B, c *client.Client, args ...string) {
	ctx := context.Background()
	for i := 0; i < 10; i++ { // warm up
		if code, err := c.RunCommand(ctx, args, nil); err != nil || code != 0 {
			b.Fatalf("%q: %d, %v", args, code, err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code, err := c.RunCommand(ctx, args, nil); err != nil || code != 0 {
			b.Fatalf("%q: %d, %v", args, code, err)
		}
	}
	b.StopTimer()
	reportRatio(b)
}
