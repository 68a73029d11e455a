// Command mutants applies each listed mutant (mutants/*.txt) to a copy of the
// module, runs the tests it names and reports whether a test other than the
// golden-template comparison caught it. It exits non-zero unless every mutant
// is caught by name. The working tree is never modified.
//
//	go run ./cmd/mutants [-only REGEXP] [-list DIR] [-no-baseline]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/mutants"
)

func main() {
	listDir := flag.String("list", "mutants", "directory of mutant lists (*.txt), from the module root")
	only := flag.String("only", "", "run only the mutants whose id matches this regular expression")
	noBaseline := flag.Bool("no-baseline", false, "skip the unmutated run that proves the named tests pass first")
	flag.Parse()
	if err := run(*listDir, *only, !*noBaseline, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

type result struct {
	m       mutants.Mutant
	verdict mutants.Verdict
	failed  []string
	elapsed time.Duration
}

func run(listDir, only string, baseline bool, out io.Writer) error {
	list, err := load(listDir)
	if err != nil {
		return err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		list = slices.DeleteFunc(list, func(m mutants.Mutant) bool { return !re.MatchString(m.ID) })
	}
	if len(list) == 0 {
		return errors.New("no mutants to run")
	}
	work, err := copyModule()
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	// Every mutant must apply before anything runs.
	var errs []error
	for _, m := range list {
		data, err := os.ReadFile(filepath.Join(work, m.File))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: mutant %s: %w", m.Source, m.ID, err))
			continue
		}
		if _, err := m.Apply(string(data)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Source, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if baseline {
		pkgs := map[string]bool{}
		for _, m := range list {
			for _, p := range m.Packages {
				pkgs[p] = true
			}
		}
		fmt.Fprintf(out, "baseline: the unmutated module must pass %s\n", strings.Join(slices.Sorted(maps.Keys(pkgs)), " "))
		failed, outside, log := goTest(work, slices.Sorted(maps.Keys(pkgs)), "", "")
		if len(failed) > 0 || outside {
			return fmt.Errorf("the unmutated module fails its tests (%s); fix that first:\n%s", strings.Join(failed, ", "), log)
		}
	}

	var results []result
	for i, m := range list {
		path := filepath.Join(work, m.File)
		orig, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mutated, _ := m.Apply(string(orig))
		info, _ := os.Stat(path)
		if err := os.WriteFile(path, []byte(mutated), info.Mode()); err != nil {
			return err
		}
		start := time.Now()
		failed, outside, _ := goTest(work, m.Packages, m.Run, m.Skip)
		if err := os.WriteFile(path, orig, info.Mode()); err != nil {
			return err
		}
		r := result{m: m, verdict: mutants.Classify(failed, outside), failed: failed, elapsed: time.Since(start)}
		results = append(results, r)
		fmt.Fprintf(out, "[%d/%d] %-40s %-22s %5.0fs  %s\n", i+1, len(list), m.ID, r.verdict, r.elapsed.Seconds(), caughtBy(r))
	}

	fmt.Fprintln(out, "\n| mutant | file | stands for | verdict | caught by |\n| --- | --- | --- | --- | --- |")
	bad := 0
	for _, r := range results {
		fmt.Fprintf(out, "| `%s` | `%s` | %s | %s | %s |\n", r.m.ID, r.m.File, r.m.Why, r.verdict, caughtBy(r))
		if r.verdict != mutants.CaughtByName {
			bad++
		}
	}
	fmt.Fprintf(out, "\n%d mutants, %d caught by a named test\n", len(results), len(results)-bad)
	if bad > 0 {
		return fmt.Errorf("%d of %d mutants not caught by a named test", bad, len(results))
	}
	return nil
}

// caughtBy names the failing tests other than the golden comparison.
func caughtBy(r result) string {
	var named []string
	for _, f := range r.failed {
		if !slices.Contains(mutants.GoldenTests, f) {
			named = append(named, f)
		}
	}
	if len(named) > 3 {
		named = append(named[:3], fmt.Sprintf("(+%d)", len(named)-3))
	}
	return strings.Join(named, ", ")
}

func load(dir string) ([]mutants.Mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no mutant lists in %s", dir)
	}
	var all []mutants.Mutant
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms, err := mutants.Parse(f, bytes.NewReader(data))
		all = append(all, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]string{}
	for _, m := range all {
		if prev, dup := seen[m.ID]; dup && prev != m.Source {
			errs = append(errs, fmt.Errorf("%s: id %s is also listed at %s", m.Source, m.ID, prev))
		}
		seen[m.ID] = m.Source
	}
	return all, errors.Join(errs...)
}

// copyModule copies the module's tracked and untracked-but-not-ignored files
// into a temporary directory, so mutants never touch the working tree.
func copyModule() (string, error) {
	names, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files (run from the module root): %w", err)
	}
	work, err := os.MkdirTemp("", "synapse-ops-runners-mutants-")
	if err != nil {
		return "", err
	}
	for _, name := range strings.Split(strings.TrimRight(string(names), "\x00"), "\x00") {
		info, err := os.Lstat(name)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return "", err
		}
		dst := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			return "", err
		}
	}
	return work, nil
}

// goTest runs go test -json and returns the failed top-level tests, whether
// something failed outside any test (build errors), and the output of the
// failures.
func goTest(dir string, pkgs []string, runFilter, skipFilter string) ([]string, bool, string) {
	args := []string{"test", "-count=1", "-json"}
	if runFilter != "" {
		args = append(args, "-run", runFilter)
	}
	if skipFilter != "" {
		args = append(args, "-skip", skipFilter)
	}
	args = append(args, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	type event struct {
		Action  string
		Package string
		Test    string
		Output  string
	}
	var failed []string
	failedPkgs := map[string]bool{}
	pkgWithFailedTest := map[string]bool{}
	output := map[string]*strings.Builder{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		key := e.Package + " " + e.Test
		if e.Action == "output" {
			if output[key] == nil {
				output[key] = &strings.Builder{}
			}
			output[key].WriteString(e.Output)
		}
		if e.Action != "fail" && e.Action != "build-fail" {
			continue
		}
		switch {
		case e.Test != "" && !strings.Contains(e.Test, "/"):
			failed = append(failed, e.Test)
			pkgWithFailedTest[e.Package] = true
		case e.Test == "":
			failedPkgs[e.Package] = true
		}
	}
	outside := false
	var log strings.Builder
	for p := range failedPkgs {
		if !pkgWithFailedTest[p] {
			outside = true
		}
	}
	if runErr != nil && len(failed) == 0 {
		outside = true
	}
	for _, f := range failed {
		for key, b := range output {
			if strings.HasSuffix(key, " "+f) {
				log.WriteString(b.String())
			}
		}
	}
	if outside {
		log.WriteString(stderr.String())
	}
	slices.Sort(failed)
	return slices.Compact(failed), outside, log.String()
}
