// Command cmdsrv-bench measures cmdsrv against the machine's floor and
// against Mercurial's own servers, every row in the same run, and prints
// one table: medians over several repetitions, with ratios next to the
// absolute figures.
//
//	go run -C cmd/cmdsrv-bench .           # full run (a few minutes)
//	go run -C cmd/cmdsrv-bench . -quick   # smaller sizes, fewer repetitions (CI)
//	go run -C cmd/cmdsrv-bench . -plot ../../docs/bench.png
//
// It is a module of its own (go.mod here, with a replace of the repository's
// root), so that its plotting dependencies stay out of the library's module
// graph; run it from the repository's root as above, or `go run .` here.
//
// Rows that need Mercurial (hg, chg) say "n/a" when it is not installed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type config struct {
	quick    bool
	reps     int
	cmdsrv   string // path of the cmdsrv binary
	self     string // path of this binary (helper processes)
	hg, chg  string // "" when not installed
	workDir  string
	root     string // directory of the cmdsrv module (binaries are built there)
	hgRepo   string
	hgEnv    []string
	outBytes int64
	inBytes  int64
}

// row is one line of the table.
type row struct {
	group, name string
	value       float64 // seconds per op, or bytes per second
	unit        string  // "time" or "throughput" or "rate" or "memory"
	baseline    string  // name of the row in the same group this one is compared to
	note        string
}

func main() {
	quick := flag.Bool("quick", false, "small sizes and few repetitions (for CI)")
	reps := flag.Int("reps", 0, "repetitions per measurement (default 5, quick 3)")
	bin := flag.String("cmdsrv", "", "cmdsrv binary (default: build ./cmd/cmdsrv with CGO_ENABLED=0)")
	plotPath := flag.String("plot", "", "write a PNG plot of per-call times to this file")
	replot := flag.String("replot", "", "with -plot: draw the plot from a table this command printed, measuring nothing")
	only := flag.String("only", "", "comma list of groups to run (pipe,output,input,connect,chg,chgcall,clients,expensive,loop,pool,thin,oneshot,pipeexit,initfile,freshstale,freshrebuild,freshbinary,freshcheck; fresh: all four)")
	flag.Parse()

	if helper() {
		return
	}
	if *replot != "" {
		rows, err := rowsFromTable(*replot)
		if err == nil {
			err = writePlot(*plotPath, rows)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cmdsrv-bench:", err)
			os.Exit(1)
		}
		return
	}
	cfg, cleanup, err := setup(*quick, *reps, *bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmdsrv-bench:", err)
		os.Exit(1)
	}
	defer cleanup()

	groups := []struct {
		name string
		run  func(*config) ([]row, error)
	}{
		{"pipe", benchPipeRoundTrip},
		{"output", benchOutput},
		{"input", benchInput},
		{"connect", benchConnect},
		{"chg", benchChg},
		{"chgcall", benchChgCall},
		{"clients", benchClients},
		{"expensive", benchExpensive},
		{"loop", benchLoop},
		{"pool", benchPool},
		{"thin", benchThin},
		{"oneshot", benchOneshot},
		{"pipeexit", benchPipeExit},
		{"initfile", benchInitFile},
		{"freshstale", benchFreshStale},
		{"freshrebuild", benchFreshRebuild},
		{"freshbinary", benchFreshBinary},
		{"freshcheck", benchFreshCheck},
	}
	var rows []row
	for _, g := range groups {
		if *only != "" && !selected(*only, g.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", g.name)
		rs, err := g.run(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cmdsrv-bench: %s: %v\n", g.name, err)
			os.Exit(1)
		}
		rows = append(rows, rs...)
	}
	printTable(os.Stdout, cfg, rows)
	if *plotPath != "" {
		if err := writePlot(*plotPath, rows); err != nil {
			fmt.Fprintln(os.Stderr, "cmdsrv-bench: plot:", err)
			os.Exit(1)
		}
	}
}

func setup(quick bool, reps int, bin string) (*config, func(), error) {
	cfg := &config{quick: quick, reps: reps}
	if cfg.reps == 0 {
		cfg.reps = 5
		if quick {
			cfg.reps = 3
		}
	}
	cfg.outBytes, cfg.inBytes = 256<<20, 64<<20
	if quick {
		cfg.outBytes, cfg.inBytes = 16<<20, 4<<20
	}
	dir, err := os.MkdirTemp("/tmp", "csb")
	if err != nil {
		return nil, nil, err
	}
	cfg.workDir = dir
	cleanup := func() { os.RemoveAll(dir) }
	if cfg.self, err = os.Executable(); err != nil {
		return nil, cleanup, err
	}
	// The binaries are built from the cmdsrv module this command's go.mod
	// points to (the repository's root, by its replace directive).
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cmdsrv/cmdsrv").Output()
	if err != nil {
		return nil, cleanup, fmt.Errorf("finding the cmdsrv module (run from cmd/cmdsrv-bench): %w", err)
	}
	cfg.root = strings.TrimSpace(string(root))
	if bin == "" {
		// A static binary starts about 1 ms faster than one that loads
		// libc; that matters for every row that starts a process.
		if bin, err = buildStatic(cfg, "./cmd/cmdsrv", "cmdsrv"); err != nil {
			return nil, cleanup, err
		}
	}
	cfg.cmdsrv = bin
	cfg.hg, _ = exec.LookPath("hg")
	cfg.chg, _ = exec.LookPath("chg")
	if cfg.hg != "" {
		home := filepath.Join(dir, "home")
		_ = os.Mkdir(home, 0o700)
		cfg.hgEnv = append(os.Environ(), "HOME="+home, "HGRCPATH=", "HGPLAIN=1")
		cfg.hgRepo = filepath.Join(dir, "repo")
		cmd := exec.Command(cfg.hg, "init", cfg.hgRepo)
		cmd.Env = cfg.hgEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, cleanup, fmt.Errorf("hg init: %w\n%s", err, out)
		}
	}
	return cfg, cleanup, nil
}

// median runs fn reps times and returns the median of its results.
func median(reps int, fn func() (float64, error)) (float64, error) {
	vals := make([]float64, 0, reps)
	for i := 0; i < reps; i++ {
		v, err := fn()
		if err != nil {
			return 0, err
		}
		vals = append(vals, v)
	}
	sort.Float64s(vals)
	return vals[len(vals)/2], nil
}

// perOp times n calls of op and returns seconds per call.
func perOp(n int, op func() error) (float64, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := op(); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Seconds() / float64(n), nil
}

func na(group, name, baseline, why string) row {
	return row{group: group, name: name, value: -1, unit: "time", baseline: baseline, note: "n/a: " + why}
}

// selected reports whether the -only list names group; "fresh" names
// every fresh* group.
func selected(only, group string) bool {
	for _, name := range strings.Split(only, ",") {
		if name == group || (name == "fresh" && strings.HasPrefix(group, "fresh")) {
			return true
		}
	}
	return false
}
