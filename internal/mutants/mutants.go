// Package mutants reads the project's mutant lists and judges the test runs
// against them. A mutant is a plausible one-line mistake; the tests must name
// it. Running the tests is the command's job (cmd/mutants); this package only
// parses, applies and classifies.
//
// List format (mutants/*.txt): blocks separated by blank lines, one field per
// line as "key: value", "#" starts a comment line.
//
//	id: boot-checksum-not-fatal          unique, used in reports
//	file: constructs/runnerpool/boot.sh  path from the module root
//	from: sha256sum --check --strict     text found on exactly one line of file
//	occurrence: 2                        optional: the 2nd line holding from (when it is not unique)
//	to: sha256sum --check --strict || true   replaces it on that line
//	why: a failed checksum check no longer stops the boot
//	packages: ./constructs/runnerpool    go test packages, space separated
//	run: Checksum                        optional -run filter
//	skip: WhenTheAppRuns                 optional -skip filter
package mutants

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mutant is one listed mistake.
type Mutant struct {
	ID       string
	File     string
	From     string
	To       string
	Why      string
	Packages []string
	Run      string
	Skip     string
	// Occurrence picks the nth line holding From (1-based); 0 means From
	// must be unique.
	Occurrence int
	// Source is where the mutant is listed (file:line), for error messages.
	Source string
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Parse reads one list. Every problem is reported, naming the mutant and field.
func Parse(name string, r io.Reader) ([]Mutant, error) {
	var (
		out  []Mutant
		errs []error
		cur  *Mutant
		line int
	)
	flush := func() {
		if cur == nil {
			return
		}
		errs = append(errs, cur.validate()...)
		out = append(out, *cur)
		cur = nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line++
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		if trimmed == "" {
			flush()
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: %q is not \"key: value\"", name, line, text))
			continue
		}
		if cur == nil {
			cur = &Mutant{Source: fmt.Sprintf("%s:%d", name, line)}
		}
		value = strings.TrimPrefix(value, " ")
		switch strings.TrimSpace(key) {
		case "id":
			cur.ID = value
		case "file":
			cur.File = value
		case "from":
			cur.From = value
		case "to":
			cur.To = value
		case "why":
			cur.Why = value
		case "packages":
			cur.Packages = strings.Fields(value)
		case "run":
			cur.Run = value
		case "skip":
			cur.Skip = value
		case "occurrence":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s:%d: occurrence %q is not a positive number", name, line, value))
			}
			cur.Occurrence = n
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unknown field %q; use id, file, from, to, why, packages, run, skip or occurrence", name, line, key))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, m := range out {
		if seen[m.ID] {
			errs = append(errs, fmt.Errorf("%s: id %s is listed twice", m.Source, m.ID))
		}
		seen[m.ID] = true
	}
	return out, errors.Join(errs...)
}

func (m Mutant) validate() []error {
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, fmt.Errorf("%s: mutant %q: %s: %s", m.Source, m.ID, field, msg))
	}
	if !idPattern.MatchString(m.ID) {
		bad("id", "use lowercase letters, digits and dashes")
	}
	if m.File == "" {
		bad("file", "missing; give the path from the module root")
	}
	if m.From == "" {
		bad("from", "missing; give text found on exactly one line of the file")
	}
	if m.From == m.To {
		bad("to", "same as from; a mutant must change the line")
	}
	if strings.TrimSpace(m.Why) == "" {
		bad("why", "missing; say what mistake this stands for")
	}
	if len(m.Packages) == 0 {
		bad("packages", "missing; name the go test packages that must catch it")
	}
	for field, re := range map[string]string{"run": m.Run, "skip": m.Skip} {
		if _, err := regexp.Compile(re); err != nil {
			bad(field, err.Error())
		}
	}
	return errs
}

// Apply returns content with the mutant applied: From must occur on exactly
// one line, once, or Occurrence names which of the lines holding it.
func (m Mutant) Apply(content string) (string, error) {
	lines := strings.Split(content, "\n")
	var at []int
	for i, l := range lines {
		if n := strings.Count(l, m.From); n > 0 {
			if n > 1 {
				return "", fmt.Errorf("mutant %s: %q occurs twice on line %d of %s; make from unique", m.ID, m.From, i+1, m.File)
			}
			at = append(at, i)
		}
	}
	switch {
	case len(at) == 0:
		return "", fmt.Errorf("mutant %s: %q is not in %s (the code changed: update the mutant)", m.ID, m.From, m.File)
	case m.Occurrence == 0 && len(at) > 1:
		return "", fmt.Errorf("mutant %s: %q occurs on %d lines of %s; make from unique or give occurrence", m.ID, m.From, len(at), m.File)
	case m.Occurrence > len(at):
		return "", fmt.Errorf("mutant %s: occurrence %d, but %q occurs on %d lines of %s (the code changed: update the mutant)", m.ID, m.Occurrence, m.From, len(at), m.File)
	}
	i := at[0]
	if m.Occurrence > 0 {
		i = at[m.Occurrence-1]
	}
	lines[i] = strings.Replace(lines[i], m.From, m.To, 1)
	return strings.Join(lines, "\n"), nil
}

// Verdict is how a mutant fared.
type Verdict string

const (
	// CaughtByName: a test other than the golden comparison failed.
	CaughtByName Verdict = "caught-by-name"
	// CaughtOnlyByGolden: only the golden comparison failed.
	CaughtOnlyByGolden Verdict = "caught-only-by-golden"
	// Survived: every test passed.
	Survived Verdict = "survived"
	// Broken: the mutant did not build or the run failed outside any test;
	// not a plausible mistake, so the list is wrong.
	Broken Verdict = "broken"
)

// GoldenTests are the tests that compare whole templates with committed files.
var GoldenTests = []string{"TestGivenCommittedConfig_ThenTemplatesMatchTheGoldenFiles"}

// Classify judges a run from the top-level tests that failed and whether the
// run failed outside tests (build errors, panics outside a test).
func Classify(failed []string, failedOutsideTests bool) Verdict {
	named := slices.ContainsFunc(failed, func(name string) bool {
		return !slices.Contains(GoldenTests, strings.SplitN(name, "/", 2)[0])
	})
	switch {
	case named:
		return CaughtByName
	case len(failed) > 0:
		return CaughtOnlyByGolden
	case failedOutsideTests:
		return Broken
	default:
		return Survived
	}
}
