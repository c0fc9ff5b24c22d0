package main

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writePlot draws the per-call time of the 200 ms start-up application:
// direct, through chg and through the own client, next to chg + hg.
func writePlot(path string, rows []row) error {
	var names []string
	var values plotter.Values
	for _, r := range rows {
		if !strings.HasPrefix(r.group, "8 ") || r.value <= 0 {
			continue
		}
		names = append(names, r.name)
		values = append(values, 1000/r.value) // ms per call
	}
	if len(values) == 0 {
		return fmt.Errorf("no rows of group 8 to plot (run without -only, or with -only loop)")
	}
	p := plot.New()
	p.Title.Text = "App with a 200 ms start-up, called back to back"
	p.Y.Label.Text = "ms per call (lower is better)"
	bars, err := plotter.NewBarChart(values, vg.Points(28))
	if err != nil {
		return err
	}
	p.Add(bars)
	for i, n := range names {
		names[i] = strings.ReplaceAll(strings.ReplaceAll(n, ", ", "\n"), " (", "\n(")
	}
	p.NominalX(names...)
	return p.Save(vg.Length(150*len(names))*vg.Millimeter/10+60*vg.Millimeter, 110*vg.Millimeter, path)
}
