package report

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PoolSeries is one pool's samples, for the chart.
type PoolSeries struct {
	Pool    string
	Samples []Sample
}

// WriteChart draws, per pool, demand (jobs queued or running), capacity
// (instances alive) and busy runners over time, as step lines, into a PNG.
func WriteChart(w io.Writer, title string, horizonHours float64, pools []PoolSeries) error {
	if len(pools) == 0 {
		return fmt.Errorf("chart: no pools to draw")
	}
	const width, rowHeight = 9 * vg.Inch, 2.6 * vg.Inch
	var rows [][]*plot.Plot
	for i, ps := range pools {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("pool %s", ps.Pool)
		if i == 0 {
			p.Title.Text = title + ": " + p.Title.Text
		}
		p.X.Label.Text = "simulated hours"
		p.Y.Label.Text = "count"
		p.X.Min, p.X.Max = 0, horizonHours
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		for _, s := range []struct {
			name  string
			get   func(Sample) int
			color color.RGBA
			width vg.Length
		}{
			{"demand (queued + running jobs)", func(s Sample) int { return s.Demand }, color.RGBA{R: 200, G: 60, B: 40, A: 255}, 1.6},
			{"capacity (instances)", func(s Sample) int { return s.Capacity }, color.RGBA{R: 40, G: 90, B: 200, A: 255}, 1.2},
			{"busy runners", func(s Sample) int { return s.Busy }, color.RGBA{R: 40, G: 150, B: 60, A: 255}, 1},
		} {
			xys := make(plotter.XYs, 0, len(ps.Samples)+1)
			top := 0
			for _, smp := range ps.Samples {
				xys = append(xys, plotter.XY{X: smp.At.Hours(), Y: float64(s.get(smp))})
				top = max(top, s.get(smp))
			}
			if n := len(xys); n > 0 {
				xys = append(xys, plotter.XY{X: horizonHours, Y: xys[n-1].Y})
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return fmt.Errorf("chart: %w", err)
			}
			l.StepStyle = plotter.PostStep
			l.Color = s.color
			l.Width = s.width
			p.Add(l)
			p.Legend.Add(s.name, l)
			p.Y.Max = max(p.Y.Max, float64(top)+1)
		}
		rows = append(rows, []*plot.Plot{p})
	}
	img := vgimg.NewWith(vgimg.UseWH(width, rowHeight*vg.Length(len(pools))), vgimg.UseDPI(72))
	dc := draw.New(img)
	canvases := plot.Align(rows, draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(6)}, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
