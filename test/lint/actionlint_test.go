package lint

import (
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// diffRoleVariable is the repository variable of this repository (ops-core) that
// holds the read-only diff roles; see scripts/resolve-diff-role.sh.
const diffRoleVariable = "DIFF_ROLE_TO_ASSUME"

// actionlintConfig writes an actionlint configuration derived from the committed
// environments: the scale set names are the only self-hosted runner labels, and
// the repository variables the stack outputs feed are the only `vars` names. A
// typo in `runs-on:` or `vars.` then fails here instead of queueing forever or
// reading an empty string on GitHub.
func actionlintConfig(t testing.TB, envs []config.Environment) string {
	t.Helper()
	var labels []string
	for _, env := range envs {
		for _, p := range env.Pools {
			labels = append(labels, p.ScaleSetName)
		}
	}
	vars := slices.Sorted(maps.Keys(config.RepositoryVariables))
	vars = append(vars, diffRoleVariable)

	var b strings.Builder
	b.WriteString("self-hosted-runner:\n  labels:\n")
	for _, l := range labels {
		fmt.Fprintf(&b, "    - %q\n", l)
	}
	b.WriteString("config-variables:\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "  - %q\n", v)
	}
	path := filepath.Join(t.TempDir(), "actionlint.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newLinter builds an actionlint linter with the derived configuration and, when
// shellcheck is installed, its shellcheck integration for every `run:` script.
func newLinter(t testing.TB, root string) *actionlint.Linter {
	t.Helper()
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shellcheck is not installed but CI is set: %s", installShellcheck)
		}
		t.Logf("shellcheck is not installed (%s): linting workflows without checking their run: scripts", installShellcheck)
		shellcheck = ""
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{
		Shellcheck: shellcheck,
		ConfigFile: actionlintConfig(t, environments(t)),
		WorkingDir: root,
		Color:      actionlint.ColorOptionKindNever,
	})
	if err != nil {
		t.Fatalf("creating the actionlint linter: %v", err)
	}
	return linter
}

// TestActionlint lints every workflow and every caller example and fails with
// each finding, as file:line:col: message [rule].
func TestActionlint(t *testing.T) {
	root := repoRoot(t)
	files := workflowFiles(t, root)
	for _, want := range []string{"deploy.yml", "diff.yml", "run-task.yml"} {
		if !slices.Contains(files, filepath.Join(".github", "workflows", want)) {
			t.Errorf(".github/workflows/%s is missing", want)
		}
	}
	var examples int
	abs := make([]string, len(files))
	for i, f := range files {
		abs[i] = filepath.Join(root, f)
		if strings.HasPrefix(filepath.ToSlash(f), "examples/") {
			examples++
		}
	}
	if examples == 0 {
		t.Error("no caller examples under examples/")
	}

	errs, err := newLinter(t, root).LintFiles(abs, nil)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
	t.Logf("actionlint checked %d files (%d caller examples)", len(files), examples)
}

// TestActionlintCatchesMistakes proves the derived configuration is in force: a
// misspelt scale set, an unknown repository variable and (with shellcheck) an
// unquoted variable must each be reported. Without this, an empty label list or
// a dropped config file would let every such mistake through silently.
func TestActionlintCatchesMistakes(t *testing.T) {
	root := repoRoot(t)
	linter := newLinter(t, root)
	cases := []struct {
		name, yaml, want string
		needsShellcheck  bool
	}{
		{
			name: "misspelt scale set",
			yaml: "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: synapse-dve\n    timeout-minutes: 5\n    steps:\n      - run: echo hi\n",
			want: "synapse-dve",
		},
		{
			name: "unknown repository variable",
			yaml: "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: synapse-dev\n    timeout-minutes: 5\n    steps:\n      - run: echo hi\n        env:\n          R: ${{ vars.ROLE_TO_ASSUM }}\n",
			want: "ROLE_TO_ASSUM",
		},
		{
			name:            "unquoted variable in a run script",
			yaml:            "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: synapse-dev\n    timeout-minutes: 5\n    steps:\n      - run: cat $FILE\n",
			want:            "SC2086",
			needsShellcheck: true,
		},
	}
	_, haveShellcheck := exec.LookPath("shellcheck")

	// Every repository variable the stack outputs feed, ADMIN_TOKEN_SECRET
	// included, is accepted: the probe is not just failing on everything.
	for variable := range config.RepositoryVariables {
		yaml := "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: synapse-dev\n    timeout-minutes: 5\n    steps:\n      - run: echo \"$R\"\n        env:\n          R: ${{ vars." + variable + " }}\n"
		errs, err := linter.Lint(filepath.Join(root, ".github", "workflows", "probe.yml"), []byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("vars.%s: %s [%s]", variable, e.Message, e.Kind)
		}
	}
	if _, ok := config.RepositoryVariables["ADMIN_TOKEN_SECRET"]; !ok {
		t.Error("ADMIN_TOKEN_SECRET, which run-task.yml reads, is not in config.RepositoryVariables")
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsShellcheck && haveShellcheck != nil {
				t.Skip("shellcheck is not installed")
			}
			path := filepath.Join(root, ".github", "workflows", "probe.yml")
			errs, err := linter.Lint(path, []byte(tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Message)
			}
			if !strings.Contains(strings.ToLower(strings.Join(got, "\n")), strings.ToLower(tc.want)) {
				t.Errorf("actionlint did not report %q; it reported %q", tc.want, got)
			}
		})
	}
}
