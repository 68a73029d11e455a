package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Report is everything one fleetsim invocation prints.
type Report struct {
	Trace string `json:"trace"`
	Env   string `json:"env"`
	// Prices names the price table: its date and region.
	Prices string `json:"prices"`
	// Latency says the latency figures are modelled.
	Latency string `json:"latency"`
	Runs    []Run  `json:"runs"`
}

// WriteJSON prints the report as indented JSON. Field order is fixed and floats
// are rounded, so the same run prints the same bytes.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable prints one Markdown table per run (figures by pool), then, when
// there are several runs, a comparison of their totals.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Trace %s, environment %s, prices %s. Queue-to-start is %s.\n", r.Trace, r.Env, r.Prices, r.Latency)
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "\n**%s**: %s (%.1f simulated hours)\n\n", run.Policy, run.Note, run.HorizonHours)
		cols := append(append([]Figures{}, run.Pools...), run.Total)
		b.WriteString("| figure |")
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c.Pool)
		}
		b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(cols)) + "\n")
		row := func(name string, f func(Figures) string) {
			fmt.Fprintf(&b, "| %s |", name)
			for _, c := range cols {
				fmt.Fprintf(&b, " %s |", f(c))
			}
			b.WriteString("\n")
		}
		row("jobs served / failed / killed", func(f Figures) string { return fmt.Sprintf("%d / %d / %d", f.Served, f.Failed, f.Killed) })
		row("queue-to-start p50 / p95 / p99 / max (s, modelled)", func(f Figures) string {
			q := f.QueueToStart
			return fmt.Sprintf("%s / %s / %s / %s", num(q.P50, 0), num(q.P95, 0), num(q.P99, 0), num(q.Max, 0))
		})
		row("paid instance-hours / job-hours / ratio", func(f Figures) string {
			return fmt.Sprintf("%s / %s / %s", num(f.PaidHours, 1), num(f.JobHours, 1), num(f.PaidPerJob, 2))
		})
		row("cost USD (run / month)", func(f Figures) string {
			return fmt.Sprintf("%s / %s", num(f.Cost, 2), num(f.CostPerMonth, 2))
		})
		row("idle runner-hours", func(f Figures) string { return num(f.IdleHours, 1) })
		row("instances launched / spot interruptions / on-demand fallbacks", func(f Figures) string {
			return fmt.Sprintf("%d / %d / %d", f.Launched, f.SpotInterruptions, f.OnDemandFallbacks)
		})
		if run.FixedCostPerMonth > 0 {
			fmt.Fprintf(&b, "\nThe total includes %s USD a month paid whatever the load.\n", num(run.FixedCostPerMonth, 2))
		}
	}
	if len(r.Runs) > 1 {
		b.WriteString("\n| policy | cost USD / month | p95 queue-to-start (s, modelled) | jobs killed | jobs failed | paid / job hours |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, run := range r.Runs {
			t := run.Total
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s |\n", run.Policy, num(t.CostPerMonth, 2), num(t.QueueToStart.P95, 0), t.Killed, t.Failed, num(t.PaidPerJob, 2))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func num(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
