package main

import (
	"bufio"
	"fmt"
	"image/color"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writePlot draws the per-call time of the 200 ms start-up application
// called back to back: direct, through chg and through the own client,
// next to chg + hg. Horizontal bars, so the labels have room, with each
// bar's value written beside it.
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
	p.Title.Text = "An app with a 200 ms start-up, called back to back"
	p.X.Label.Text = "ms per call (lower is better)"
	bars, err := plotter.NewBarChart(values, vg.Points(18))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	bars.Color = color.RGBA{R: 60, G: 110, B: 180, A: 255}
	p.Add(bars)
	xys := make(plotter.XYs, len(values))
	labels := make([]string, len(values))
	for i, v := range values {
		xys[i] = plotter.XY{X: v, Y: float64(i)}
		labels[i] = fmt.Sprintf("  %.1f ms", v)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	p.Add(l)
	p.NominalY(names...)
	p.X.Max = values[maxIndex(values)] * 1.25
	return p.Save(200*vg.Millimeter, vg.Length(20+12*len(values))*vg.Millimeter, path)
}

func maxIndex(v plotter.Values) int {
	m := 0
	for i := range v {
		if v[i] > v[m] {
			m = i
		}
	}
	return m
}

// rowsFromTable reads the rows of group 8 back from a table this command
// printed, so a plot can be redrawn without measuring again.
func rowsFromTable(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 5 {
			continue
		}
		group, name, val := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		num, ok := strings.CutSuffix(val, " calls/s")
		if !strings.HasPrefix(group, "8 ") || !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", val, err)
		}
		rows = append(rows, row{group: group, name: name, value: v, unit: "calls"})
	}
	return rows, sc.Err()
}
