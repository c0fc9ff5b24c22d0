package chg

import (
	"os/exec"
	"testing"

	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// BenchmarkChg compares, in one run, the wall time of one command:
//   - chg-cmdsrv: `chg echo hi` against a warm cmdsrv chg server, one
//     client per worker (cmdserver.worker-reuse=1);
//   - chg-cmdsrv-reuse: the same at the default configuration, which
//     reuses workers, so that almost no worker is started while the
//     benchmark runs;
//   - direct-cmdsrv: `cmdsrv echo hi`, a cold process each time;
//   - chg-hg: `chg version -q` against Mercurial's own chg server
//     (CHGHG=/usr/bin/hg, HOME in a temp dir).
//
// go test -run '^$' -bench Chg ./chg/
func BenchmarkChg(b *testing.B) {
	e := newChgEnv(b, "")
	warm := func(b *testing.B, c func() *exec.Cmd) {
		b.Helper()
		if out, err := c().CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", c().Args, err, out)
		}
	}
	run := func(b *testing.B, c func() *exec.Cmd) {
		warm(b, c)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c().Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("chg-cmdsrv", func(b *testing.B) {
		run(b, func() *exec.Cmd { return e.command("--config", "cmdserver.worker-reuse=1", "echo", "hi") })
	})
	b.Run("chg-cmdsrv-reuse", func(b *testing.B) {
		r := newChgEnv(b, "")
		run(b, func() *exec.Cmd { return r.command("echo", "hi") })
	})
	b.Run("direct-cmdsrv", func(b *testing.B) {
		run(b, func() *exec.Cmd {
			c := exec.Command(e.bin, "echo", "hi")
			c.Env = e.env
			return c
		})
	})
	b.Run("chg-hg", func(b *testing.B) {
		hg := testutil.NeedExternal(b, "hg")
		h := newChgEnv(b, hg)
		home := b.TempDir()
		h.env = append(h.env, "HOME="+home, "HGRCPATH=", "HGPLAIN=1")
		run(b, func() *exec.Cmd { return h.command("version", "-q") })
	})
}
