package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// BenchmarkWordindexCall measures one `wordindex prefix gra 3` call as a
// user at a shell runs it: the cold binary (which builds its index every
// time), through Mercurial's chg, and through the binary's own client mode
// (CMDSRV_CLIENT=auto). Served calls wait 1.5 s between calls, untimed,
// so that a warm worker is ready as it would be for a human typing.
func BenchmarkWordindexCall(b *testing.B) {
	bin := testutil.BuildCommand(b, "./examples/wordindex", "wordindex")
	args := []string{"prefix", "gra", "3"}
	run := func(b *testing.B, path string, env []string, pause time.Duration) {
		call := func() {
			cmd := exec.Command(path, args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
		call() // starts a server where there is one to start
		b.ResetTimer()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
			start := time.Now()
			call()
			total += time.Since(start)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/call")
	}
	b.Run("direct", func(b *testing.B) { run(b, bin, os.Environ(), 0) })
	b.Run("own-client", func(b *testing.B) {
		dir := testutil.ShortDir(b)
		run(b, bin, append(os.Environ(), "CMDSRV_CLIENT=auto", "CMDSRV_SOCKNAME="+filepath.Join(dir, "s")), 1500*time.Millisecond)
	})
	b.Run("chg", func(b *testing.B) {
		chg := testutil.NeedExternal(b, "chg")
		dir := testutil.ShortDir(b)
		run(b, chg, append(os.Environ(), "CHGHG="+bin, "CHGSOCKNAME="+filepath.Join(dir, "s")), 1500*time.Millisecond)
	})
}
