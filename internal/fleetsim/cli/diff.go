package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
)

// diff runs the controller on one trace with two configurations (the base
// branch's environments directory and this one's) and prints, in Markdown for
// a pull request's job summary, the change in cost per month, p95
// queue-to-start and jobs killed, then both tables.
func diff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetsim diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envName := fs.String("env", "", "environment to compare")
	baseDir := fs.String("base-environments", "", "the base branch's environments directory")
	headDir := fs.String("environments", config.DefaultDir, "this branch's environments directory")
	tracePath := fs.String("trace", "", "trace file")
	seed := fs.Uint64("seed", 1, "seed of the latency draws")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitInput
	}
	if *envName == "" || *baseDir == "" || *tracePath == "" {
		fmt.Fprintln(stderr, "fleetsim diff: --env, --base-environments and --trace are required")
		return ExitInput
	}
	headIn, err := load(*headDir, *envName, *tracePath, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim diff: %v\n", err)
		return ExitInput
	}
	head, err := controllerReport(headIn)
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim diff: %v\n", err)
		return ExitRunFail
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "### Fleet simulator: %s on %s (controller, queue-to-start modelled)\n\n", *envName, headIn.Trace.Name)
	var base *report.Report
	baseIn, berr := load(*baseDir, *envName, *tracePath, *seed)
	if berr == nil {
		base, berr = controllerReport(baseIn)
	}
	if berr != nil {
		// A new environment, or a base configuration this code no longer reads.
		fmt.Fprintf(&b, "The base configuration could not be simulated, so only this branch's figures follow:\n\n```\n%v\n```\n\n", berr)
	} else {
		bt, ht := base.Runs[0].Total, head.Runs[0].Total
		b.WriteString("| figure | base | this branch | change |\n| --- | ---: | ---: | ---: |\n")
		row := func(name string, x, y float64, prec int) {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, num(x, prec), num(y, prec), signed(y-x, prec))
		}
		row("cost USD / month", bt.CostPerMonth, ht.CostPerMonth, 2)
		row("p95 queue-to-start (s, modelled)", bt.QueueToStart.P95, ht.QueueToStart.P95, 0)
		row("jobs killed", float64(bt.Killed), float64(ht.Killed), 0)
		row("jobs failed", float64(bt.Failed), float64(ht.Failed), 0)
		b.WriteString("\n<details><summary>base</summary>\n\n")
		if err := base.WriteTable(&b); err != nil {
			fmt.Fprintf(stderr, "fleetsim diff: %v\n", err)
			return ExitRunFail
		}
		b.WriteString("\n</details>\n\n")
	}
	b.WriteString("<details><summary>this branch</summary>\n\n")
	if err := head.WriteTable(&b); err != nil {
		fmt.Fprintf(stderr, "fleetsim diff: %v\n", err)
		return ExitRunFail
	}
	b.WriteString("\n</details>\n")
	_, _ = stdout.Write(b.Bytes())
	return ExitOK
}

func controllerReport(in fleetsim.Input) (*report.Report, error) {
	res, err := fleetsim.Run(in, fleetsim.Controller)
	if err != nil {
		return nil, err
	}
	return &report.Report{
		Trace: in.Trace.Name, Env: in.Env.Name, Latency: report.Modelled,
		Prices: fmt.Sprintf("%s %s of %s", in.Prices.Region, in.Prices.Currency, in.Prices.Date),
		Runs:   []report.Run{res.Run},
	}, nil
}

func num(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }

func signed(x float64, prec int) string {
	s := num(x, prec)
	if x > 0 {
		return "+" + s
	}
	return s
}
