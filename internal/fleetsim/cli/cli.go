// Package cli is the fleetsim command: flags, loading, and printing. cmd/fleetsim
// only calls Main.
package cli

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/latency"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/prices"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/report"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/trace"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitInput   = 1 // bad flags, configuration or trace
	ExitRunFail = 2 // the simulation could not run
)

const usage = `fleetsim replays a trace of jobs through the fleet's scaling and reports cost,
modelled queue-to-start time and killed jobs.

  fleetsim --env dev --trace sim/traces/ops-week.json [--compare] [--json] [--chart out.png]
  fleetsim gen --seed 1 [--weeks 1] [--faults] [--env dev] [-o trace.json]
  fleetsim diff --env dev --base-environments ../base/environments --trace sim/traces/ops-week.json

`

// Main runs the command and returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gen" {
		return gen(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "diff" {
		return diff(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	envName := fs.String("env", "", "environment whose pools to simulate (environments/<env>.json)")
	envDir := fs.String("environments", config.DefaultDir, "directory of the environment files")
	tracePath := fs.String("trace", "", "trace file (see docs/simulator.md)")
	policies := fs.String("policies", fleetsim.Controller, "comma-separated policies to run: "+strings.Join(fleetsim.AllPolicies, ", "))
	compare := fs.Bool("compare", false, "run the controller and every reference policy")
	asJSON := fs.Bool("json", false, "print the figures as JSON")
	chart := fs.String("chart", "", "write a PNG of demand, capacity and busy runners per pool of the first policy")
	seed := fs.Uint64("seed", 1, "seed of the latency draws")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitInput
	}
	var errs []error
	if *envName == "" {
		errs = append(errs, errors.New("--env: missing; name an environment, for example --env dev"))
	}
	if *tracePath == "" {
		errs = append(errs, errors.New("--trace: missing; give a trace file, for example --trace sim/traces/ops-week.json"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q; every input is a flag", fs.Args()))
	}
	names := fleetsim.AllPolicies
	if !*compare {
		names = nil
		for _, n := range strings.Split(*policies, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(fleetsim.AllPolicies, n) {
				errs = append(errs, fmt.Errorf("--policies: %q is not a policy; use one or more of: %s", n, strings.Join(fleetsim.AllPolicies, ", ")))
			}
			names = append(names, n)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "fleetsim: %v\n", errors.Join(errs...))
		return ExitInput
	}
	in, err := load(*envDir, *envName, *tracePath, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim: %v\n", err)
		return ExitInput
	}
	rep := &report.Report{
		Trace:   in.Trace.Name,
		Env:     in.Env.Name,
		Prices:  fmt.Sprintf("%s %s of %s", in.Prices.Region, in.Prices.Currency, in.Prices.Date),
		Latency: report.Modelled,
	}
	var first *fleetsim.Result
	for _, n := range names {
		res, err := fleetsim.Run(in, n)
		if err != nil {
			fmt.Fprintf(stderr, "fleetsim: %v\n", err)
			return ExitRunFail
		}
		rep.Runs = append(rep.Runs, res.Run)
		if first == nil {
			first = &res
		}
	}
	var out bytes.Buffer
	if *asJSON {
		err = rep.WriteJSON(&out)
	} else {
		err = rep.WriteTable(&out)
	}
	if err == nil && *chart != "" {
		err = writeChart(*chart, in.Trace.Name+", "+first.Run.Policy, first)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim: %v\n", err)
		return ExitRunFail
	}
	_, _ = stdout.Write(out.Bytes())
	return ExitOK
}

func writeChart(path, title string, r *fleetsim.Result) error {
	var b bytes.Buffer
	if err := report.WriteChart(&b, title, r.Run.HorizonHours, r.Series); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--chart: %w", err)
	}
	return nil
}

func environment(dir, name string) (config.Environment, error) {
	envs, err := config.LoadDir(dir)
	if err != nil {
		return config.Environment{}, err
	}
	sel, err := config.Select(envs, name)
	if err != nil {
		return config.Environment{}, fmt.Errorf("--env: %w", err)
	}
	return sel[0], nil
}

func load(dir, name, tracePath string, seed uint64) (fleetsim.Input, error) {
	env, err := environment(dir, name)
	if err != nil {
		return fleetsim.Input{}, err
	}
	tr, err := trace.Load(tracePath)
	if err != nil {
		return fleetsim.Input{}, err
	}
	in := fleetsim.Input{Env: env, Trace: tr, Seed: seed, Latency: latency.Default(), Prices: prices.Default()}
	if err := in.Check(); err != nil {
		return fleetsim.Input{}, fmt.Errorf("trace %s does not fit environment %s:\n%w", tracePath, env.Name, err)
	}
	return in, nil
}

func gen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetsim gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed; the same seed and flags give the same bytes")
	weeks := fs.Int("weeks", 1, "weeks to generate")
	faults := fs.Bool("faults", false, "add one of every fault kind each week")
	envName := fs.String("env", "dev", "environment whose pools the jobs target")
	envDir := fs.String("environments", config.DefaultDir, "directory of the environment files")
	out := fs.String("o", "", "output file (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitInput
	}
	if *weeks < 1 {
		fmt.Fprintln(stderr, "fleetsim gen: --weeks: must be at least 1")
		return ExitInput
	}
	env, err := environment(*envDir, *envName)
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim gen: %v\n", err)
		return ExitInput
	}
	o, err := GenOptions(env)
	if err != nil {
		fmt.Fprintf(stderr, "fleetsim gen: %v\n", err)
		return ExitInput
	}
	o.Seed, o.Weeks, o.Faults = *seed, *weeks, *faults
	var b bytes.Buffer
	if err := trace.Encode(&b, trace.Generate(o)); err != nil {
		fmt.Fprintf(stderr, "fleetsim gen: %v\n", err)
		return ExitRunFail
	}
	if *out == "" {
		_, _ = stdout.Write(b.Bytes())
		return ExitOK
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "fleetsim gen: -o: %v\n", err)
		return ExitRunFail
	}
	return ExitOK
}

// GenOptions picks the generator's pools from an environment: the first
// standard pool takes deployments and ad hoc tasks, the first long pool the
// migrations.
func GenOptions(env config.Environment) (trace.GenOptions, error) {
	var o trace.GenOptions
	for _, p := range env.Pools {
		if p.IsLong() {
			o.LongPool = cmp.Or(o.LongPool, p.Name)
		} else if o.Pool == "" {
			o.Pool, o.SpotTypes = p.Name, p.InstanceTypes
		}
	}
	if o.Pool == "" || o.LongPool == "" {
		return o, fmt.Errorf("--env: environment %s needs a standard and a long pool for the generator's migrations and tasks", env.Name)
	}
	o.Repository = env.Repository
	return o, nil
}
