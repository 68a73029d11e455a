package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// A fake secret value: obviously not a credential.
const fakeAdminToken = "fake-synapse-admin-token-0123456789"

type runResult struct {
	stdout, stderr string
	code           int
}

// runBash runs a script as GitHub Actions runs a `shell: bash` step
// (bash --noprofile --norc -eo pipefail) with a small, explicit environment.
// fakes, when set, is put first on PATH.
func runBash(t testing.TB, script, dir, fakes string, env map[string]string) runResult {
	t.Helper()
	requireTool(t, "jq", installJq)
	bash := requireTool(t, "bash", "apt-get install -y bash")
	file := filepath.Join(t.TempDir(), "step.sh")
	if err := os.WriteFile(file, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "--noprofile", "--norc", "-eo", "pipefail", file)
	cmd.Dir = dir
	path := os.Getenv("PATH")
	if fakes != "" {
		path = fakes + string(os.PathListSeparator) + path
	}
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir(), "LC_ALL=C"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running bash: %v", err)
	}
	return res
}

// runScriptFile runs one of the repository's scripts/ with arguments.
func runScriptFile(t testing.TB, name string, env map[string]string, args ...string) runResult {
	t.Helper()
	root := repoRoot(t)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return runBash(t, "scripts/"+name+" "+strings.Join(quoted, " ")+"\n", root, "", env)
}

// fakeAWS writes an `aws` command that prints $FAKE_SECRET for
// `secretsmanager get-secret-value --secret-id $FAKE_SECRET_ID`, answers any
// other secret id as Secrets Manager does (not found), fails when FAKE_AWS_FAIL
// is set, and appends its arguments to $FAKE_AWS_LOG when that is set, so a
// test can tell whether it ran at all.
func fakeAWS(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	body := `#!/usr/bin/env bash
if [[ -n "${FAKE_AWS_LOG:-}" ]]; then printf '%s\n' "$*" >>"${FAKE_AWS_LOG}"; fi
if [[ -n "${FAKE_AWS_FAIL:-}" ]]; then
  echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation" >&2
  exit 254
fi
[[ "$1 $2" == "secretsmanager get-secret-value" ]] || { echo "unexpected aws $*" >&2; exit 2; }
[[ "$3" == "--secret-id" && "$4" == "${FAKE_SECRET_ID}" ]] || {
  echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret." >&2
  exit 254
}
printf '%s\n' "${FAKE_SECRET}"
`
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readOutputs(t testing.TB, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestAdminTokenStep runs run-task's token step with a fake aws CLI: it reads
// the secret the check job named, the first line that shows the token is its
// ::add-mask:: command and no other line shows it; a value the mask cannot
// cover, or a secret name that is not a Secrets Manager name, is refused
// without being printed.
func TestAdminTokenStep(t *testing.T) {
	task := job(t, ownWorkflow(t, parseWorkflows(t), "run-task.yml"), "task")
	step, script := stepRun(t, task, "Read the Synapse admin token")
	base := stepEnv(step)
	if want := "${{ needs.check.outputs.admin-token-secret }}"; base["ADMIN_TOKEN_SECRET"] != want {
		t.Errorf("the token step reads the secret named %q, want %s (the name the check job validated)", base["ADMIN_TOKEN_SECRET"], want)
	}
	if got := str(step.If); got != "inputs.admin-token" {
		t.Errorf("the token step runs if %q, want inputs.admin-token", got)
	}
	fakes := fakeAWS(t)

	for _, secretID := range []string{config.DefaultAdminTokenSecretName, "/synapse/prod/admin-token", "synapse_admin+ops=1.@x-y"} {
		t.Run("masked before anything else, "+secretID, func(t *testing.T) {
			temp := t.TempDir()
			env := maps.Clone(base)
			env["ADMIN_TOKEN_SECRET"], env["FAKE_SECRET_ID"] = secretID, secretID
			env["RUNNER_TEMP"], env["FAKE_SECRET"] = temp, fakeAdminToken
			res := runBash(t, script, t.TempDir(), fakes, env)
			if res.code != 0 {
				t.Fatalf("exit %d: %s%s", res.code, res.stdout, res.stderr)
			}
			lines := strings.Split(res.stdout, "\n")
			if lines[0] != "::add-mask::"+fakeAdminToken {
				t.Errorf("first output line is %q, want the ::add-mask:: command", lines[0])
			}
			for i, l := range lines[1:] {
				if strings.Contains(l, fakeAdminToken) {
					t.Errorf("output line %d shows the token: %q", i+2, l)
				}
			}
			if strings.Contains(res.stderr, fakeAdminToken) {
				t.Error("stderr shows the token")
			}
			if !strings.Contains(res.stdout, "read "+secretID+" ") {
				t.Errorf("the log does not say which secret was read: %q", res.stdout)
			}
			file := filepath.Join(temp, "synapse-admin-token")
			data, err := os.ReadFile(file)
			if err != nil || string(data) != fakeAdminToken {
				t.Errorf("token file holds %q (%v), want the token", data, err)
			}
			if info, err := os.Stat(file); err == nil && info.Mode().Perm() != 0o600 {
				t.Errorf("token file mode %v, want 0600", info.Mode().Perm())
			}
		})
	}

	refused := []struct {
		name, secretID, secret, fail string
		hidden                       []string
	}{
		{name: "several lines", secret: "fake-line-one\nfake-line-two", hidden: []string{"fake-line-one", "fake-line-two"}},
		{name: "no string value", secret: "None"},
		{name: "empty", secret: ""},
		{name: "aws fails", secret: fakeAdminToken, fail: "1", hidden: []string{fakeAdminToken}},
		{name: "another secret than the one that exists", secretID: "/synapse/other", secret: fakeAdminToken, hidden: []string{fakeAdminToken}},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			temp := t.TempDir()
			env := maps.Clone(base)
			env["ADMIN_TOKEN_SECRET"], env["FAKE_SECRET_ID"] = config.DefaultAdminTokenSecretName, config.DefaultAdminTokenSecretName
			if tc.secretID != "" {
				env["ADMIN_TOKEN_SECRET"] = tc.secretID
			}
			env["RUNNER_TEMP"], env["FAKE_SECRET"] = temp, tc.secret
			if tc.fail != "" {
				env["FAKE_AWS_FAIL"] = tc.fail
			}
			res := runBash(t, script, t.TempDir(), fakes, env)
			if res.code == 0 {
				t.Fatalf("the step succeeded: %s", res.stdout)
			}
			for _, h := range tc.hidden {
				if strings.Contains(res.stdout+res.stderr, h) {
					t.Errorf("output shows %q: %s%s", h, res.stdout, res.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(temp, "synapse-admin-token")); err == nil {
				t.Error("a token file was written")
			}
		})
	}

	// Names that must never reach the aws command line or the log: they would
	// be an option, a second word, a workflow command or shell syntax.
	for _, bad := range badSecretNames {
		t.Run("refuses the secret name "+shortName(bad), func(t *testing.T) {
			temp := t.TempDir()
			log := filepath.Join(temp, "aws.log")
			env := maps.Clone(base)
			env["ADMIN_TOKEN_SECRET"], env["FAKE_SECRET_ID"] = bad, bad
			env["RUNNER_TEMP"], env["FAKE_SECRET"], env["FAKE_AWS_LOG"] = temp, fakeAdminToken, log
			res := runBash(t, script, t.TempDir(), fakes, env)
			if res.code == 0 {
				t.Fatalf("the step succeeded: %s", res.stdout)
			}
			if _, err := os.Stat(log); err == nil {
				t.Error("aws ran with a secret name that is not a Secrets Manager name")
			}
			if !strings.Contains(res.stdout, "::error") {
				t.Errorf("refused without an ::error annotation: %q", res.stdout)
			}
			if bad != "" && strings.Contains(res.stdout, bad) {
				t.Errorf("the refused name is printed: %q", res.stdout)
			}
		})
	}
}

// badSecretNames are admin token secret names run-task must refuse before use.
var badSecretNames = []string{
	"",
	"-admin-pat",
	"--debug",
	"/synapse/admin pat",
	"/synapse/admin-pat\n::add-mask::x",
	"::warning::x",
	"$(touch pwned)",
	"/synapse/admin-pat;id",
	"arn:aws:secretsmanager:us-east-1:449435941126:secret:/synapse/admin-pat",
	"/" + strings.Repeat("a", 512),
}

// shortName quotes a value for a subtest name, cut to 40 bytes.
func shortName(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// TestAdminTokenSecretCheck runs run-task's check of the ADMIN_TOKEN_SECRET
// variable: unset means /synapse/admin-pat, a Secrets Manager name is passed
// on to the task job, anything else fails on the GitHub-hosted runner without
// being printed, and a name that differs from the environment file is a
// warning (the file may be ahead of the deployed stack).
func TestAdminTokenSecretCheck(t *testing.T) {
	all := parseWorkflows(t)
	check := job(t, ownWorkflow(t, all, "run-task.yml"), "check")
	step, script := stepRun(t, check, "Check the admin token secret name")
	base := stepEnv(step)
	if base["ADMIN_TOKEN_SECRET"] != "${{ vars.ADMIN_TOKEN_SECRET }}" {
		t.Errorf("the check reads ADMIN_TOKEN_SECRET from %q, want the repository variable", base["ADMIN_TOKEN_SECRET"])
	}
	if _, ok := config.RepositoryVariables["ADMIN_TOKEN_SECRET"]; !ok {
		t.Error("ADMIN_TOKEN_SECRET is not one of config.RepositoryVariables; the deploy would not keep it current")
	}
	if base["DEFAULT_ADMIN_TOKEN_SECRET"] != config.DefaultAdminTokenSecretName {
		t.Errorf("the default secret name is %q, want config.DefaultAdminTokenSecretName %q", base["DEFAULT_ADMIN_TOKEN_SECRET"], config.DefaultAdminTokenSecretName)
	}
	if got := str(step.If); got != "inputs.admin-token" {
		t.Errorf("the secret name check runs if %q, want inputs.admin-token", got)
	}
	if out, ok := check.Outputs["admin-token-secret"]; !ok || str(out.Value) != "${{ steps.secret.outputs.name }}" {
		t.Error("the check job does not hand the checked name on as output admin-token-secret")
	}

	envDir := fakeEnvironments(t, map[string]string{
		"dev":  `{"name":"dev","pools":[]}`,
		"prod": `{"name":"prod","adminToken":{"secretName":"/synapse/prod/admin-token"},"pools":[]}`,
	})
	cases := []struct {
		name, env, variable, want string
		warn                      bool
	}{
		{"unset means the default", "dev", "", config.DefaultAdminTokenSecretName, false},
		{"the default, set", "dev", config.DefaultAdminTokenSecretName, config.DefaultAdminTokenSecretName, false},
		{"configured name", "prod", "/synapse/prod/admin-token", "/synapse/prod/admin-token", false},
		{"differs from the file", "dev", "/synapse/other", "/synapse/other", true},
		{"unset, but the file names another", "prod", "", config.DefaultAdminTokenSecretName, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "output")
			env := maps.Clone(base)
			env["ENVIRONMENT"], env["ENVIRONMENTS_DIR"], env["ADMIN_TOKEN_SECRET"], env["GITHUB_OUTPUT"] = tc.env, envDir, tc.variable, out
			res := runBash(t, script, t.TempDir(), "", env)
			if res.code != 0 {
				t.Fatalf("exit %d: %s%s", res.code, res.stdout, res.stderr)
			}
			if got := readOutputs(t, out)["name"]; got != tc.want {
				t.Errorf("name=%q, want %q", got, tc.want)
			}
			if warned := strings.Contains(res.stdout, "::warning"); warned != tc.warn {
				t.Errorf("warning %v, want %v: %q", warned, tc.warn, res.stdout)
			}
		})
	}
	for _, bad := range badSecretNames {
		if bad == "" {
			continue // unset: the default applies
		}
		t.Run("refuses "+shortName(bad), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "output")
			env := maps.Clone(base)
			env["ENVIRONMENT"], env["ENVIRONMENTS_DIR"], env["ADMIN_TOKEN_SECRET"], env["GITHUB_OUTPUT"] = "dev", envDir, bad, out
			res := runBash(t, script, t.TempDir(), "", env)
			if res.code == 0 {
				t.Fatalf("accepted: %s", res.stdout)
			}
			if got := readOutputs(t, out); len(got) != 0 {
				t.Errorf("outputs %v after a refusal", got)
			}
			if !strings.Contains(res.stdout, "::error") || !strings.Contains(res.stdout, "AdminTokenSecretName") {
				t.Errorf("the refusal does not say what to set: %q", res.stdout)
			}
			if strings.Contains(res.stdout, bad) {
				t.Errorf("the refused name is printed: %q", res.stdout)
			}
		})
	}

	// Every name the committed config holds passes the workflow's check.
	for _, e := range environments(t) {
		out := filepath.Join(t.TempDir(), "output")
		env := maps.Clone(base)
		env["ENVIRONMENT"], env["ENVIRONMENTS_DIR"] = e.Name, filepath.Join(repoRoot(t), config.DefaultDir)
		env["ADMIN_TOKEN_SECRET"], env["GITHUB_OUTPUT"] = e.AdminToken.SecretName, out
		res := runBash(t, script, t.TempDir(), "", env)
		if res.code != 0 || readOutputs(t, out)["name"] != e.AdminToken.SecretName || strings.Contains(res.stdout, "::warning") {
			t.Errorf("%s: adminToken.secretName %q: exit %d: %s", e.Name, e.AdminToken.SecretName, res.code, res.stdout)
		}
	}
}

// fakeEnvironments writes environment files (name -> JSON) into a temporary
// directory that stands in for the checked-out environments/.
func fakeEnvironments(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runTaskCheck runs run-task's request check with the given inputs against the
// environment files in envDir and returns the result and the step outputs.
func runTaskCheck(t *testing.T, script string, base map[string]string, envDir, environment, context, pool, timeout, params string) (runResult, map[string]string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "output")
	env := maps.Clone(base)
	env["ENVIRONMENT"], env["CONTEXT"], env["POOL"] = environment, context, pool
	env["TIMEOUT_MINUTES"], env["PARAMETERS"], env["GITHUB_OUTPUT"] = timeout, params, out
	env["ENVIRONMENTS_DIR"], env["CORE"] = envDir, coreRepository+"@main"
	res := runBash(t, script, t.TempDir(), "", env)
	return res, readOutputs(t, out)
}

// writeEnvironments writes environment files as config.Environment marshals
// them (optional fields left out, as in a hand-written file) and returns the
// directory.
func writeEnvironments(t testing.TB, envs ...config.Environment) string {
	t.Helper()
	files := map[string]string{}
	for _, e := range envs {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name] = string(data)
	}
	return fakeEnvironments(t, files)
}

// poolTimeoutLimit is the longest timeout-minutes run-task may accept for a
// pool: run-task's own cap for the pool, lowered to the pool's max-runtime
// watchdog, which the controller enforces from the job's start.
func poolTimeoutLimit(e config.Environment, pool string) (int, bool) {
	e = e.WithDefaults()
	for _, p := range e.Pools {
		if p.Name == pool {
			most := maxDefaultTimeoutMinutes
			if pool == "long" {
				most = maxLongTimeoutMinutes
			}
			return min(most, p.MaxRuntimeHours*60), true
		}
	}
	return 0, false
}

// TestRunTaskCheck runs run-task's check step: it picks the scale set of the
// environment's pool and refuses a wrong environment, pool, timeout or
// parameters before any runner is taken.
func TestRunTaskCheck(t *testing.T) {
	check := job(t, ownWorkflow(t, parseWorkflows(t), "run-task.yml"), "check")
	step, script := stepRun(t, check, "Check the environment, pool and timeout")
	base := stepEnv(step)
	envDir := writeEnvironments(t,
		config.Environment{Name: "dev", Pools: []config.Pool{{Name: "default", MaxRuntimeHours: 8}, {Name: "long", Kind: config.PoolKindLong, MaxRuntimeHours: 31}}},
		config.Environment{Name: "prod", Pools: []config.Pool{{Name: "default", MaxRuntimeHours: 8}, {Name: "long", Kind: config.PoolKindLong, MaxRuntimeHours: 31}}},
	)
	cases := []struct {
		name, env, context, pool, timeout, params string
		runsOn                                    string // "" means refused
	}{
		{"dev default", "dev", "dev", "default", "60", "{}", "synapse-dev"},
		{"prod long 30 hours", "prod", "prod", "long", "1830", `{"release":"512","dry-run":false}`, "synapse-prod-long"},
		{"long at the watchdog", "dev", "dev", "long", "1860", "{}", "synapse-dev-long"},
		{"long past the watchdog", "dev", "dev", "long", "1861", "{}", ""},
		{"long at the old cap, past the watchdog", "dev", "dev", "long", "4320", "{}", ""},
		{"default over 8 hours", "dev", "dev", "default", "481", "{}", ""},
		{"zero timeout", "dev", "dev", "default", "0", "{}", ""},
		{"fractional timeout", "dev", "dev", "default", "1.5", "{}", ""},
		{"dev repository asks for prod", "prod", "dev", "default", "60", "{}", ""},
		{"CONTEXT unset", "dev", "", "default", "60", "{}", ""},
		{"unknown pool", "dev", "dev", "gpu", "60", "{}", ""},
		{"environment with a space", "dev x", "dev x", "default", "60", "{}", ""},
		{"environment without a file", "staging", "staging", "default", "60", "{}", ""},
		{"parameters not an object", "dev", "dev", "default", "60", `["a"]`, ""},
		{"parameter key with a space", "dev", "dev", "default", "60", `{"a b":"1"}`, ""},
		{"parameters not JSON", "dev", "dev", "default", "60", `{`, ""},
		// A NUL would split into an extra TASK_ variable in the task step.
		{"NUL in a value", "dev", "dev", "default", "60", `{"user-id":"1\u0000TASK_EVIL\u0000x"}`, ""},
		{"newline in a value", "dev", "dev", "default", "60", `{"user-id":"1\n::error::forged"}`, ""},
		{"escape in a value", "dev", "dev", "default", "60", `{"user-id":"\u001b[31m"}`, ""},
		{"DEL in a value", "dev", "dev", "default", "60", `{"user-id":"a\u007f"}`, ""},
		{"plain text, numbers and booleans", "dev", "dev", "default", "60", `{"user-id":"1 2 ; $(x)","n":3,"dry-run":true}`, "synapse-dev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, got := runTaskCheck(t, script, base, envDir, tc.env, tc.context, tc.pool, tc.timeout, tc.params)
			if tc.runsOn == "" {
				if res.code == 0 || len(got) != 0 {
					t.Errorf("accepted: exit %d, outputs %v", res.code, got)
				}
				if !strings.Contains(res.stdout, "::error") {
					t.Errorf("refused without an ::error annotation: %q", res.stdout)
				}
				return
			}
			if res.code != 0 {
				t.Fatalf("refused: %s", res.stdout)
			}
			if got["runs-on"] != tc.runsOn || got["timeout-minutes"] != tc.timeout {
				t.Errorf("outputs %v, want runs-on=%s timeout-minutes=%s", got, tc.runsOn, tc.timeout)
			}
		})
	}
}

// TestRunTaskTimeoutFollowsTheWatchdog runs run-task's check step against fake
// environment files: the longest timeout it accepts on a pool is
// min(run-task's cap, maxRuntimeHours*60), with the config's defaults when the
// file leaves maxRuntimeHours out, and a refusal names maxRuntimeHours and
// how to raise it. A job the watchdog would kill never takes a runner.
func TestRunTaskTimeoutFollowsTheWatchdog(t *testing.T) {
	check := job(t, ownWorkflow(t, parseWorkflows(t), "run-task.yml"), "check")
	step, script := stepRun(t, check, "Check the environment, pool and timeout")
	base := stepEnv(step)
	long := config.PoolKindLong
	envs := []config.Environment{
		{Name: "dev", Pools: []config.Pool{{Name: "default", Kind: config.PoolKindStandard, MaxRuntimeHours: 8}, {Name: "long", Kind: long, MaxRuntimeHours: 31}}},
		{Name: "implicit", Pools: []config.Pool{{Name: "default"}, {Name: "long", Kind: long}}},
		{Name: "short", Pools: []config.Pool{{Name: "default", MaxRuntimeHours: 2}, {Name: "long", Kind: long, MaxRuntimeHours: 40}}},
		{Name: "widest", Pools: []config.Pool{{Name: "default", MaxRuntimeHours: 12}, {Name: "long", Kind: long, MaxRuntimeHours: 72}}},
		{Name: "nolong", Pools: []config.Pool{{Name: "default"}}},
	}
	envDir := writeEnvironments(t, envs...)
	// Spelt out rather than computed, so a change of the defaults or of the
	// caps shows up here.
	want := []struct {
		env, pool string
		limit     int // 0: no such pool
		watchdog  bool
	}{
		{"dev", "default", 480, false},
		{"dev", "long", 1860, true},
		{"implicit", "default", 480, false},
		{"implicit", "long", 1860, true},
		{"short", "default", 120, true},
		{"short", "long", 2400, true},
		{"widest", "default", 480, false},
		{"widest", "long", 4320, false},
		{"nolong", "long", 0, false},
	}
	for _, w := range want {
		t.Run(w.env+"/"+w.pool, func(t *testing.T) {
			for _, e := range envs {
				if limit, _ := poolTimeoutLimit(e, w.pool); e.Name == w.env && limit != w.limit {
					t.Errorf("config gives a limit of %d, the table %d", limit, w.limit)
				}
			}
			runsOn := "synapse-" + w.env
			if w.pool == "long" {
				runsOn += "-long"
			}
			if w.limit == 0 {
				res, got := runTaskCheck(t, script, base, envDir, w.env, w.env, w.pool, "60", "{}")
				if res.code == 0 || len(got) != 0 || !strings.Contains(res.stdout, "has no pool named "+w.pool) {
					t.Errorf("a missing pool was accepted or not named: exit %d, %q", res.code, res.stdout)
				}
				return
			}
			res, got := runTaskCheck(t, script, base, envDir, w.env, w.env, w.pool, strconv.Itoa(w.limit), "{}")
			if res.code != 0 || got["runs-on"] != runsOn || got["timeout-minutes"] != strconv.Itoa(w.limit) {
				t.Errorf("timeout-minutes %d at the limit: exit %d, outputs %v: %s", w.limit, res.code, got, res.stdout)
			}
			res, got = runTaskCheck(t, script, base, envDir, w.env, w.env, w.pool, strconv.Itoa(w.limit+1), "{}")
			if res.code == 0 || len(got) != 0 {
				t.Fatalf("timeout-minutes %d over the limit accepted: %v", w.limit+1, got)
			}
			var says []string
			switch {
			case w.watchdog:
				hours := strconv.Itoa(w.limit / 60)
				says = []string{"maxRuntimeHours is " + hours, "environments/" + w.env + ".json", "raise maxRuntimeHours of pool " + w.pool, "deploy the runners"}
				if w.pool == "default" {
					says = append(says, "use pool: long")
				}
			case w.pool == "default":
				says = []string{"use pool: long"}
			default:
				says = []string{"4320"}
			}
			for _, s := range says {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("the refusal does not say %q: %s", s, res.stdout)
				}
			}
		})
	}

	broken := map[string]string{
		"zero":       `{"name":"zero","pools":[{"name":"long","kind":"long","maxRuntimeHours":0}]}`,
		"fractional": `{"name":"fractional","pools":[{"name":"long","kind":"long","maxRuntimeHours":1.5}]}`,
		"negative":   `{"name":"negative","pools":[{"name":"long","kind":"long","maxRuntimeHours":-1}]}`,
		"nopools":    `{"name":"nopools"}`,
		"notjson":    `{"name":`,
	}
	brokenDir := fakeEnvironments(t, broken)
	for name := range broken {
		t.Run("refuses a file with "+name, func(t *testing.T) {
			res, got := runTaskCheck(t, script, base, brokenDir, name, name, "long", "60", "{}")
			if res.code == 0 || len(got) != 0 || !strings.Contains(res.stdout, "::error") {
				t.Errorf("accepted: exit %d, outputs %v: %s", res.code, got, res.stdout)
			}
		})
	}

	// The committed environments: the limit the step applies is the one config
	// derives, for every environment and both pools.
	committed := filepath.Join(repoRoot(t), config.DefaultDir)
	for _, e := range environments(t) {
		for _, pool := range []string{"default", "long"} {
			limit, ok := poolTimeoutLimit(e, pool)
			if !ok {
				t.Errorf("%s has no %s pool", e.Name, pool)
				continue
			}
			if res, _ := runTaskCheck(t, script, base, committed, e.Name, e.Name, pool, strconv.Itoa(limit), "{}"); res.code != 0 {
				t.Errorf("%s %s: timeout-minutes %d refused: %s", e.Name, pool, limit, res.stdout)
			}
			if res, _ := runTaskCheck(t, script, base, committed, e.Name, e.Name, pool, strconv.Itoa(limit+1), "{}"); res.code == 0 {
				t.Errorf("%s %s: timeout-minutes %d accepted", e.Name, pool, limit+1)
			}
		}
	}
}

// TestRunTaskScaleSetsExist: the scale set names run-task computes are the ones
// the committed config registers, for every environment.
func TestRunTaskScaleSetsExist(t *testing.T) {
	for _, env := range environments(t) {
		names := map[string]string{}
		for _, p := range env.Pools {
			names[p.Name] = p.ScaleSetName
		}
		if names["default"] != "synapse-"+env.Name {
			t.Errorf("%s: the default pool's scale set is %q; run-task targets synapse-%s", env.Name, names["default"], env.Name)
		}
		if names["long"] != "synapse-"+env.Name+"-long" {
			t.Errorf("%s: the long pool's scale set is %q; run-task targets synapse-%s-long", env.Name, names["long"], env.Name)
		}
		if want := "Sage-Bionetworks/synapse-ops-" + env.Name; env.Repository != want {
			t.Errorf("%s: repository %q, but the examples for it are written for %s", env.Name, env.Repository, want)
		}
	}
}

// TestRunTaskStep runs run-task's task step: parameters arrive as TASK_* data
// (a value that looks like shell code is not run), the token file becomes
// SYNAPSE_ADMIN_TOKEN and is deleted, and the deployment profile is chosen only
// on request.
func TestRunTaskStep(t *testing.T) {
	task := job(t, ownWorkflow(t, parseWorkflows(t), "run-task.yml"), "task")
	step, script := stepRun(t, task, "Run the task")
	for _, deploymentRole := range []string{"false", "true"} {
		t.Run("use-deployment-role="+deploymentRole, func(t *testing.T) {
			temp, work := t.TempDir(), t.TempDir()
			tokenFile := filepath.Join(temp, "synapse-admin-token")
			if err := os.WriteFile(tokenFile, []byte(fakeAdminToken), 0o600); err != nil {
				t.Fatal(err)
			}
			env := stepEnv(step)
			env["RUNNER_TEMP"] = temp
			env["PARAMETERS"] = `{"user-id":"$(touch pwned)","dry-run":true,"count":3,"list.items":["a"]}`
			env["USE_DEPLOYMENT_ROLE"] = deploymentRole
			env["CONTEXT"], env["SYNAPSE_HOST"] = "dev", "https://repo-dev.dev.sagebase.org"
			env["TASK_COMMAND"] = `printf '%s|%s|%s|%s\n' "$TASK_USER_ID" "$TASK_DRY_RUN" "$TASK_COUNT" "$TASK_LIST_ITEMS"
printf 'token=%s\n' "${SYNAPSE_ADMIN_TOKEN:-}"
printf 'profile=%s host=%s context=%s\n' "${AWS_PROFILE:-}" "$SYNAPSE_HOST" "$CONTEXT"`
			res := runBash(t, script, work, "", env)
			if res.code != 0 {
				t.Fatalf("exit %d: %s%s", res.code, res.stdout, res.stderr)
			}
			if _, err := os.Stat(filepath.Join(work, "pwned")); err == nil {
				t.Error("a parameter value ran as shell code")
			}
			wantProfile := ""
			if deploymentRole == "true" {
				wantProfile = "synapse-deployment"
			}
			want := `$(touch pwned)|true|3|["a"]` + "\n" +
				"token=" + fakeAdminToken + "\n" +
				"profile=" + wantProfile + " host=https://repo-dev.dev.sagebase.org context=dev\n"
			if res.stdout != want {
				t.Errorf("task saw\n%s\nwant\n%s", res.stdout, want)
			}
			if _, err := os.Stat(tokenFile); err == nil {
				t.Error("the token file is still there after the task step read it")
			}
		})
	}
	t.Run("failing command fails the step", func(t *testing.T) {
		env := stepEnv(step)
		env["RUNNER_TEMP"], env["PARAMETERS"], env["TASK_COMMAND"] = t.TempDir(), "{}", "false; echo not reached"
		res := runBash(t, script, t.TempDir(), "", env)
		if res.code == 0 || strings.Contains(res.stdout, "not reached") {
			t.Errorf("exit %d, output %q: the command did not stop at its first failure", res.code, res.stdout)
		}
	})
}

// TestDeployCheck runs deploy's check step: only the repository's own CONTEXT,
// with a role ARN configured, gets past it.
func TestDeployCheck(t *testing.T) {
	check := job(t, ownWorkflow(t, parseWorkflows(t), "deploy.yml"), "check")
	_, script := stepRun(t, check, "Check the environment against CONTEXT")
	role := "arn:aws:iam::449435941126:role/synapse-ops-runners-dev-github"
	cases := []struct {
		name, env, context, role string
		ok                       bool
	}{
		{"matching", "dev", "dev", role, true},
		{"prod from the dev repository", "prod", "dev", role, false},
		{"no CONTEXT", "dev", "", role, false},
		{"no role", "dev", "dev", "", false},
		{"role is not an ARN", "dev", "dev", "synapse-ops-runners-dev-github", false},
		{"uppercase environment", "Prod", "Prod", role, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runBash(t, script, t.TempDir(), "", map[string]string{
				"ENVIRONMENT": tc.env, "CONTEXT": tc.context, "ROLE_TO_ASSUME": tc.role,
			})
			if (res.code == 0) != tc.ok {
				t.Errorf("exit %d, want ok=%v: %s", res.code, tc.ok, res.stdout)
			}
		})
	}
}
