package runnerpool

import "strings"

// shipped is a script as the user data carries it: without whole-line
// comments and blank lines. EC2 refuses user data over 16 KB, and the boot
// script, the runner fetcher and the admission hook together exceed it with
// their comments. "#!" lines (the shebangs, also of the scripts boot.sh writes
// through heredocs) stay. The tests run the shipped form.
func shipped(script string) string {
	var b strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || (strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "#!")) {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
