// Command mutants checks that the tests catch plausible one-line bugs. It
// reads a list of mutants (scripts/mutants.txt), and for each one replaces one
// line of one file, runs the tests the entry names, and restores the file,
// whatever happens (failure, timeout, interrupt). A mutant is caught when the
// tests fail, survived when they pass, and invalid when the mutated code does
// not build or the line is not found exactly once (a plausible bug compiles).
//
//	go run ./scripts/mutants [-list scripts/mutants.txt] [-only id,id]
//
// The list holds blocks separated by blank lines; '#' starts a comment line:
//
//	id:   short-name
//	desc: what the bug is, in words
//	file: path/from/the/module/root.go
//	from: the original line (compared without surrounding blanks)
//	to:   the mutated line (the original indentation is kept)
//	pkg:  ./package/to/test (space-separated for several)
//	run:  regexp for go test -run
//	after: (optional) text of a line above: the first matching line below it is taken
//
// Any package of the module can be listed, so the list can grow to the whole
// project. Tests run with -short (the property tests' shorter form).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type mutant struct {
	id, desc, file, from, to, run, after string
	pkgs                                 []string
}

func main() {
	list := flag.String("list", "scripts/mutants.txt", "mutant list")
	only := flag.String("only", "", "comma-separated ids to run (default all)")
	timeout := flag.Duration("timeout", 10*time.Minute, "per-mutant test timeout")
	flag.Parse()
	ms, err := parse(*list)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(2)
	}
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id != "" {
			want[id] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("%-34s %-9s %6s  %s\n", "mutant", "result", "time", "description")
	bad := 0
	for _, m := range ms {
		if len(want) > 0 && !want[m.id] {
			continue
		}
		began := time.Now()
		res, detail := apply(ctx, m, *timeout)
		if res != "caught" {
			bad++
		}
		fmt.Printf("%-34s %-9s %5.0fs  %s\n", m.id, res, time.Since(began).Seconds(), m.desc)
		if detail != "" && res != "caught" {
			fmt.Println(indent(detail))
		}
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "mutants: interrupted")
			os.Exit(2)
		}
	}
	if bad > 0 {
		fmt.Printf("%d mutant(s) not caught\n", bad)
		os.Exit(1)
	}
	fmt.Println("every mutant caught")
}

// apply mutates, tests, and restores. The file is restored before apply returns.
func apply(ctx context.Context, m mutant, timeout time.Duration) (string, string) {
	orig, err := os.ReadFile(m.file)
	if err != nil {
		return "invalid", err.Error()
	}
	lines := strings.SplitAfter(string(orig), "\n")
	at, start := -1, 0
	if m.after != "" {
		start = -1
		for i, l := range lines {
			if strings.Contains(l, m.after) {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return "invalid", "anchor not found: " + m.after
		}
	}
	for i, l := range lines {
		if i < start {
			continue
		}
		if strings.TrimSpace(l) == m.from {
			if m.after != "" {
				at = i // the first one below the anchor
				break
			}
			if at >= 0 {
				return "invalid", "line found more than once (add after:): " + m.from
			}
			at = i
		}
	}
	if at < 0 {
		return "invalid", "line not found: " + m.from
	}
	l := lines[at]
	ind := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	lines[at] = ind + m.to + "\n"
	if err := os.WriteFile(m.file, []byte(strings.Join(lines, "")), 0o644); err != nil {
		return "invalid", err.Error()
	}
	defer func() {
		if err := os.WriteFile(m.file, orig, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "mutants: could not restore %s: %v\n", m.file, err)
			os.Exit(3)
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"test", "-count=1", "-short", "-run", m.run}, m.pkgs...)
	cmd := exec.CommandContext(tctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "SURVIVED", ""
	case strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]"):
		return "invalid", firstLines(out.String(), 8)
	case errors.As(err, &exit):
		return "caught", ""
	}
	return "invalid", err.Error()
}

func parse(path string) ([]mutant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mutant
	var cur mutant
	var errs []error
	flush := func() {
		if cur.id == "" && cur.file == "" {
			return
		}
		if cur.id == "" || cur.file == "" || cur.from == "" || cur.to == "" || len(cur.pkgs) == 0 || cur.run == "" {
			errs = append(errs, fmt.Errorf("%s: mutant %q needs id, file, from, to, pkg and run", path, cur.id))
		}
		ms = append(ms, cur)
		cur = mutant{}
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: want key: value", path, n))
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "id":
			cur.id = v
		case "desc":
			cur.desc = v
		case "file":
			cur.file = v
		case "from":
			cur.from = v
		case "to":
			cur.to = v
		case "pkg":
			cur.pkgs = strings.Fields(v)
		case "run":
			cur.run = v
		case "after":
			cur.after = v
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q", path, n, k))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return ms, errors.Join(errs...)
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
