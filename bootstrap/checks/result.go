// Package checks holds the prerequisite checks of the new-account bootstrap:
// each one reads the account or GitHub, reports a Row (ok, missing, wrong or
// error, with the exact fix), and in apply mode fixes what it safely can.
//
// Checks never stop at the first failure: an access-denied or throttled call
// becomes the state of its own row and the other checks still run, so one run
// shows everything a user has to do.
package checks

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// State is the outcome of one check.
type State string

// States, from best to worst for exit-status purposes.
const (
	OK      State = "ok"
	Missing State = "missing"
	Wrong   State = "wrong"
	// Error means the check itself could not finish (access denied, throttled,
	// an unexpected API error); the row's detail says which.
	Error State = "error"
	// Skipped means the check was not run, for a reason that is not a problem
	// with the account: the stack is not deployed yet, or the stack's policy
	// keeps the GitHub credential from this principal by design. The row's fix
	// says how to run it. It does not fail the run.
	Skipped State = "skipped"
)

// Row is one line of the report.
type Row struct {
	Check  string `json:"check"`
	State  State  `json:"state"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// Action is what apply changed for this row, empty when nothing was changed.
	Action string `json:"action,omitempty"`
}

// Report is the result of one run.
type Report struct {
	Environment string `json:"environment"`
	Account     string `json:"account"`
	Region      string `json:"region"`
	Mode        string `json:"mode"`
	Rows        []Row  `json:"rows"`
	ExitCode    int    `json:"exitCode"`
}

// ExitCode is 0 when every row is ok or skipped and 1 otherwise. (2, "could
// not run", is decided before any row exists.)
func ExitCode(rows []Row) int {
	for _, r := range rows {
		if r.State != OK && r.State != Skipped {
			return 1
		}
	}
	return 0
}

// Changed lists the rows apply changed.
func Changed(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if r.Action != "" {
			out = append(out, r)
		}
	}
	return out
}

// WriteTable prints the report for people. Apply adds an ACTION column.
func WriteTable(w io.Writer, rep Report) error {
	fmt.Fprintf(w, "%s bootstrap %s: account %s, region %s\n\n", rep.Environment, rep.Mode, rep.Account, rep.Region)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "CHECK\tSTATE\tDETAIL\tFIX"
	if rep.Mode == "apply" {
		header += "\tACTION"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rep.Rows {
		line := fmt.Sprintf("%s\t%s\t%s\t%s", r.Check, r.State, oneLine(r.Detail), dash(oneLine(r.Fix)))
		if rep.Mode == "apply" {
			line += "\t" + dash(oneLine(r.Action))
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := map[State]int{}
	for _, r := range rep.Rows {
		counts[r.State]++
	}
	_, err := fmt.Fprintf(w, "\n%d ok, %d missing, %d wrong, %d error, %d skipped; %d changed\n",
		counts[OK], counts[Missing], counts[Wrong], counts[Error], counts[Skipped], len(Changed(rep.Rows)))
	return err
}

// WriteJSON prints the report for scripts.
func WriteJSON(w io.Writer, rep Report) error {
	if rep.Rows == nil {
		rep.Rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line whatever an API message contains.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Redactor removes known secret values from text. Checks never put a secret in
// a row on purpose; this is the second layer, applied to every row before it is
// printed, in case an API ever echoes one back in an error message.
type Redactor struct{ secrets []string }

// Add registers a secret value (values shorter than 6 characters are ignored:
// they would redact ordinary words and cannot be a real credential).
func (r *Redactor) Add(values ...string) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) >= 6 {
			r.secrets = append(r.secrets, v)
		}
		// A PEM key also shows up line by line; register its body lines too.
		if strings.Contains(v, "PRIVATE KEY") {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					r.secrets = append(r.secrets, line)
				}
			}
		}
	}
}

// Row returns the row with every registered secret replaced.
func (r *Redactor) Row(row Row) Row {
	row.Detail = r.String(row.Detail)
	row.Fix = r.String(row.Fix)
	row.Action = r.String(row.Action)
	return row
}

// String returns s with every registered secret replaced.
func (r *Redactor) String(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
