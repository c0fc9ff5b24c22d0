package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

func printTable(w io.Writer, cfg *config, rows []row) {
	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "cmdsrv-bench (%s mode, median of %d, %s, %d CPUs, %s)\n\n", mode, cfg.reps, runtime.Version(), runtime.NumCPU(), time.Now().Format("2006-01-02"))
	fmt.Fprintln(w, "| group | measurement | median | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.group+"/"+r.name] = r
	}
	for _, r := range rows {
		val := format(r)
		ratio := ""
		if b, ok := byName[r.group+"/"+r.baseline]; ok && r.baseline != r.name && r.value > 0 && b.value > 0 {
			// Always this row over its baseline: for times lower is
			// better, for rates and throughputs higher is.
			what := "time"
			if r.unit == "throughput" || r.unit == "rate" || r.unit == "calls" {
				what = "rate"
			}
			ratio = fmt.Sprintf("%.2fx the %s of %s", r.value/b.value, what, r.baseline)
		} else if r.baseline == r.name {
			ratio = "baseline"
		}
		if r.note != "" {
			ratio = r.note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.group, r.name, val, ratio)
	}
}

func format(r row) string {
	if r.value < 0 {
		return "n/a"
	}
	switch r.unit {
	case "throughput":
		return fmt.Sprintf("%.0f MiB/s", r.value/(1<<20))
	case "rate":
		return fmt.Sprintf("%.0f req/s", r.value)
	case "calls":
		return fmt.Sprintf("%.1f calls/s", r.value)
	case "memory":
		return fmt.Sprintf("%.1f MiB", r.value/(1<<20))
	case "count":
		return fmt.Sprintf("%.0f", r.value)
	case "wakeups":
		return fmt.Sprintf("%.1f /s", r.value)
	}
	d := time.Duration(r.value * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", r.value*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", r.value*1e3)
	}
	return fmt.Sprintf("%.2f s", r.value)
}
