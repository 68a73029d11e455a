package admission

import (
	"errors"
	"fmt"
	"strings"
)

// Verdict is the controller's decision on one job, with the rule that made it.
type Verdict struct {
	Allow  bool
	Rule   string
	Reason string
}

// The verdict reaches the runner's job-started hook as the value of an SSM
// parameter, in three lines the hook parses without any tool:
//
//	verdict=allow|deny
//	rule=<rule>
//	reason=<text>
//
// The reason quotes GitHub data (branch names, workflow paths). It is reduced
// to printable ASCII without ':' so that, printed in the job log by the hook,
// it can never form a workflow command (::...::) or a second line.
const (
	verdictAllow = "allow"
	verdictDeny  = "deny"
	// MaxEncodedLen keeps the value inside a standard SSM parameter (4 KB).
	MaxEncodedLen = 2048
)

// Encode renders v for the hook.
func (v Verdict) Encode() string {
	word := verdictDeny
	if v.Allow {
		word = verdictAllow
	}
	out := "verdict=" + word + "\nrule=" + clean(v.Rule) + "\nreason=" + clean(v.Reason) + "\n"
	if len(out) > MaxEncodedLen {
		out = out[:MaxEncodedLen-1] + "\n"
	}
	return out
}

// ErrMalformed is returned by Parse for a value the hook would refuse too.
var ErrMalformed = errors.New("admission: malformed verdict")

// Parse reads an encoded verdict, with the hook's strictness: the first line
// must be verdict=allow or verdict=deny.
func Parse(s string) (Verdict, error) {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	word, ok := strings.CutPrefix(lines[0], "verdict=")
	if !ok || (word != verdictAllow && word != verdictDeny) {
		return Verdict{}, fmt.Errorf("%w: first line %q", ErrMalformed, lines[0])
	}
	v := Verdict{Allow: word == verdictAllow}
	for _, l := range lines[1:] {
		switch k, val, _ := strings.Cut(l, "="); k {
		case "rule":
			v.Rule = val
		case "reason":
			v.Reason = val
		default:
			return Verdict{}, fmt.Errorf("%w: line %q", ErrMalformed, l)
		}
	}
	return v, nil
}

// clean keeps printable ASCII except ':' (replaced by a space), so no field
// spans lines or carries a workflow command.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ':':
			return ' '
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}
