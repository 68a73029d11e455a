package lint

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// TestReadTarget: the account and region handed to allowed-account-ids come
// from the committed environment file, and an unknown environment is refused.
func TestReadTarget(t *testing.T) {
	for _, env := range environments(t) {
		out := filepath.Join(t.TempDir(), "output")
		res := runScriptFile(t, "read-target.sh", map[string]string{"GITHUB_OUTPUT": out}, env.Name)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", env.Name, res.code, res.stdout)
		}
		got := readOutputs(t, out)
		if got["account"] != env.Account || got["region"] != env.Region {
			t.Errorf("%s: outputs %v, want account=%s region=%s", env.Name, got, env.Account, env.Region)
		}
	}
	for _, bad := range []string{"staging", "../environments/dev", "DEV"} {
		if res := runScriptFile(t, "read-target.sh", nil, bad); res.code == 0 {
			t.Errorf("read-target.sh %q succeeded: %s", bad, res.stdout)
		}
	}
}

// TestResolveDiffRole: the diff role is taken per environment and never from
// the other account.
func TestResolveDiffRole(t *testing.T) {
	envs := environments(t)
	account := map[string]string{}
	for _, e := range envs {
		account[e.Name] = e.Account
	}
	devRole := "arn:aws:iam::" + account["dev"] + ":role/synapse-ops-runners-dev-diff"
	prodRole := "arn:aws:iam::" + account["prod"] + ":role/synapse-ops-runners-prod-diff"
	both := `{"dev":"` + devRole + `","prod":"` + prodRole + `"}`
	cases := []struct {
		name, env, variable, wantARN string
		ok                           bool
	}{
		{"unset", "dev", "", "", true},
		{"map, dev", "dev", both, devRole, true},
		{"map, prod", "prod", both, prodRole, true},
		{"map without prod", "prod", `{"dev":"` + devRole + `"}`, "", true},
		{"plain ARN of this account", "dev", devRole, devRole, true},
		{"plain ARN of the other account is not used", "prod", devRole, "", true},
		{"map pointing prod at dev", "prod", `{"prod":"` + devRole + `"}`, "", false},
		{"not an ARN", "dev", `{"dev":"synapse-ops-runners-dev-diff"}`, "", false},
		{"broken JSON", "dev", `{"dev":`, "", false},
		{"user ARN", "dev", "arn:aws:iam::" + account["dev"] + ":user/someone", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "output")
			res := runScriptFile(t, "resolve-diff-role.sh",
				map[string]string{"GITHUB_OUTPUT": out, "DIFF_ROLE_TO_ASSUME": tc.variable}, tc.env)
			if (res.code == 0) != tc.ok {
				t.Fatalf("exit %d, want ok=%v: %s", res.code, tc.ok, res.stdout)
			}
			if !tc.ok {
				return
			}
			got, ok := readOutputs(t, out)["arn"]
			if !ok || got != tc.wantARN {
				t.Errorf("arn=%q (present %v), want %q", got, ok, tc.wantARN)
			}
		})
	}
}

// writeOutputs writes a cdk --outputs-file document for one stack.
func writeOutputs(t testing.TB, stack string, outputs map[string]string) string {
	t.Helper()
	data, err := json.Marshal(map[string]map[string]string{stack: outputs})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cdk-outputs.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckStackOutputs: after a deploy, each repository variable is compared
// with the stack output config.RepositoryVariables names for it; a stale one
// fails the step and names the value to set.
func TestCheckStackOutputs(t *testing.T) {
	stack := "synapse-ops-runners-dev"
	outputs := map[string]string{config.OutputScaleSetPrefix + "default": "synapse-dev"}
	vars := map[string]string{}
	for variable, output := range config.RepositoryVariables {
		value := "value-of-" + output
		outputs[output] = value
		vars[variable] = value
	}
	file := writeOutputs(t, stack, outputs)

	t.Run("all match", func(t *testing.T) {
		env := map[string]string{"GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "summary")}
		for k, v := range vars {
			env[k] = v
		}
		res := runScriptFile(t, "check-stack-outputs.sh", env, file, stack)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stdout)
		}
		summary, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
		for variable, output := range config.RepositoryVariables {
			if row := "| `" + variable + "` | `" + output + "` | `" + vars[variable] + "` | yes |"; !strings.Contains(string(summary), row) {
				t.Errorf("summary does not have the row %s (the script's table differs from config.RepositoryVariables):\n%s", row, summary)
			}
		}
		if !strings.Contains(string(summary), "synapse-dev") {
			t.Errorf("summary does not list the scale sets:\n%s", summary)
		}
	})
	for variable := range vars {
		t.Run("stale "+variable, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range vars {
				env[k] = v
			}
			env[variable] = "old-value"
			res := runScriptFile(t, "check-stack-outputs.sh", env, file, stack)
			if res.code == 0 {
				t.Fatalf("a stale %s passed", variable)
			}
			if !strings.Contains(res.stdout, "set "+variable+" to '"+vars[variable]+"'") {
				t.Errorf("the error does not say what to set: %s", res.stdout)
			}
		})
	}
	// ADMIN_TOKEN_SECRET may be left unset while the stack uses the default
	// name, as run-task then reads that name; unset against any other name is
	// stale.
	for _, tc := range []struct {
		name, output string
		ok           bool
	}{
		{"ADMIN_TOKEN_SECRET unset, default secret", config.DefaultAdminTokenSecretName, true},
		{"ADMIN_TOKEN_SECRET unset, other secret", "/synapse/prod/admin-token", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := maps.Clone(outputs)
			out[config.OutputAdminTokenSecret] = tc.output
			env := maps.Clone(vars)
			delete(env, "ADMIN_TOKEN_SECRET")
			res := runScriptFile(t, "check-stack-outputs.sh", env, writeOutputs(t, stack, out), stack)
			if (res.code == 0) != tc.ok {
				t.Fatalf("exit %d, want ok=%v: %s", res.code, tc.ok, res.stdout)
			}
			if !tc.ok && !strings.Contains(res.stdout, "set ADMIN_TOKEN_SECRET to '"+tc.output+"'") {
				t.Errorf("the error does not say what to set: %s", res.stdout)
			}
		})
	}
	t.Run("other stack", func(t *testing.T) {
		if res := runScriptFile(t, "check-stack-outputs.sh", vars, file, "synapse-ops-runners-prod"); res.code == 0 {
			t.Error("outputs of another stack were accepted")
		}
	})
}

// assembly writes a minimal cloud assembly whose stack artifact id differs from
// its stack name, as when the construct id is not the stack name.
func assembly(t testing.TB, stackName string, resources map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := map[string]any{
		"version": "48.0.0",
		"artifacts": map[string]any{
			"Tree": map[string]any{"type": "cdk:tree", "properties": map[string]any{"file": "tree.json"}},
			"RunnersDev": map[string]any{
				"type":        "aws:cloudformation:stack",
				"environment": "aws://449435941126/us-east-1",
				"displayName": "RunnersDev (" + stackName + ")",
				"properties":  map[string]any{"templateFile": "RunnersDev.template.json", "stackName": stackName},
			},
		},
	}
	res := map[string]any{}
	for id, typ := range resources {
		res[id] = map[string]any{"Type": typ}
	}
	for name, doc := range map[string]any{"manifest.json": manifest, "RunnersDev.template.json": map[string]any{"Resources": res}} {
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestStackArtifact: the stack is found by its CloudFormation name, not by the
// artifact id, and a missing stack is an error.
func TestStackArtifact(t *testing.T) {
	dir := assembly(t, "synapse-ops-runners-dev", map[string]string{"Queue": "AWS::SQS::Queue"})
	for field, want := range map[string]string{"selector": "RunnersDev (synapse-ops-runners-dev)", "template": "RunnersDev.template.json"} {
		res := runScriptFile(t, "stack-artifact.sh", nil, dir, "synapse-ops-runners-dev", field)
		if res.code != 0 || strings.TrimSpace(res.stdout) != want {
			t.Errorf("%s: exit %d, got %q, want %q", field, res.code, res.stdout, want)
		}
	}
	if res := runScriptFile(t, "stack-artifact.sh", nil, dir, "synapse-ops-runners-prod", "template"); res.code == 0 {
		t.Error("a missing stack was found")
	}
}

// TestTemplateDiff: without a template on main the whole template is listed as
// new; with one, the pinned CDK CLI shows the change offline (when npm ci has
// installed it).
func TestTemplateDiff(t *testing.T) {
	pr := assembly(t, "synapse-ops-runners-dev", map[string]string{"Queue": "AWS::SQS::Queue", "Topic": "AWS::SNS::Topic"})
	res := runScriptFile(t, "template-diff.sh", nil, pr, filepath.Join(t.TempDir(), "none"), "synapse-ops-runners-dev")
	if res.code != 0 || !strings.Contains(res.stdout, "[+] AWS::SNS::Topic Topic") || !strings.Contains(res.stdout, "[+] AWS::SQS::Queue Queue") {
		t.Errorf("with no main template: exit %d, output %q", res.code, res.stdout)
	}

	if _, err := os.Stat(filepath.Join(repoRoot(t), "node_modules", ".bin", "cdk")); err != nil {
		t.Skip("the pinned CDK CLI is not installed (npm ci); skipping the cdk diff --template case")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	base := assembly(t, "synapse-ops-runners-dev", map[string]string{"Queue": "AWS::SQS::Queue"})
	res = runScriptFile(t, "template-diff.sh", map[string]string{
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
		"AWS_EC2_METADATA_DISABLED":                    "true",
		"CDK_DISABLE_VERSION_CHECK":                    "1",
	}, pr, base, "synapse-ops-runners-dev")
	if res.code != 0 || !strings.Contains(res.stdout, "[+] AWS::SNS::Topic Topic") || strings.Contains(res.stdout, "[+] AWS::SQS::Queue") {
		t.Errorf("cdk diff --template: exit %d, output %q", res.code, res.stdout)
	}
}

// fakeCloudFormation writes an `aws` command that answers
// `cloudformation get-template` for FAKE_STACK with FAKE_TEMPLATE (as the CLI
// prints it: the template as a JSON object), says a stack does not exist for
// any other name, and fails with AccessDenied when FAKE_AWS_FAIL is set.
func fakeCloudFormation(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	body := `#!/usr/bin/env bash
[[ "$1 $2" == "cloudformation get-template" ]] || { echo "unexpected aws $*" >&2; exit 2; }
if [[ -n "${FAKE_AWS_FAIL:-}" ]]; then
  echo "An error occurred (AccessDenied) when calling the GetTemplate operation: not authorized" >&2
  exit 254
fi
[[ "$4" == "${FAKE_STACK}" ]] || {
  echo "An error occurred (ValidationError) when calling the GetTemplate operation: Stack with id $4 does not exist" >&2
  exit 254
}
printf '%s\n' "${FAKE_TEMPLATE}"
`
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeployedTemplate: the deployed template is written as JSON (from the
// object or the string form the CLI may print); a stack that is not deployed
// gives an empty template; any other error (a role that may not read the stack)
// fails the step.
func TestDeployedTemplate(t *testing.T) {
	fakes := fakeCloudFormation(t)
	root := repoRoot(t)
	run := func(env map[string]string, stack string) (runResult, string) {
		out := filepath.Join(t.TempDir(), "deployed.json")
		res := runBash(t, "scripts/deployed-template.sh '"+stack+"' '"+out+"'\n", root, fakes, env)
		data, _ := os.ReadFile(out)
		return res, string(data)
	}
	tpl := `{"Resources":{"Queue":{"Type":"AWS::SQS::Queue"}}}`
	for name, printed := range map[string]string{"object": tpl, "string": strconv.Quote(tpl)} {
		res, got := run(map[string]string{"FAKE_STACK": "synapse-ops-runners-dev", "FAKE_TEMPLATE": printed}, "synapse-ops-runners-dev")
		if res.code != 0 || !strings.Contains(got, `"AWS::SQS::Queue"`) || strings.HasPrefix(strings.TrimSpace(got), `"`) {
			t.Errorf("%s form: exit %d, wrote %q: %s", name, res.code, got, res.stdout)
		}
	}
	res, got := run(map[string]string{"FAKE_STACK": "other"}, "synapse-ops-runners-dev")
	if res.code != 0 || strings.TrimSpace(got) != "{}" {
		t.Errorf("stack not deployed: exit %d, wrote %q", res.code, got)
	}
	res, _ = run(map[string]string{"FAKE_STACK": "synapse-ops-runners-dev", "FAKE_AWS_FAIL": "1"}, "synapse-ops-runners-dev")
	if res.code == 0 || !strings.Contains(res.stdout, "::error") {
		t.Errorf("access denied: exit %d, stdout %q", res.code, res.stdout)
	}
	res, _ = run(map[string]string{"FAKE_STACK": "synapse-ops-runners-dev", "FAKE_TEMPLATE": "Resources: {}"}, "synapse-ops-runners-dev")
	if res.code == 0 {
		t.Error("a YAML template was accepted")
	}
	if res, _ := run(nil, "--stack-name=x"); res.code == 0 {
		t.Error("a stack name that is an option was accepted")
	}
}

// TestSummarizeDiff: colour codes are stripped, the diff is fenced, and an
// oversized diff is cut with a note instead of breaking the job summary.
func TestSummarizeDiff(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.diff")
	if err := os.WriteFile(in, []byte("\x1b[32m[+] AWS::SNS::Topic T\x1b[0m\n```\nnpm warn noise\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(t.TempDir(), "summary")
	res := runScriptFile(t, "summarize-diff.sh", map[string]string{"GITHUB_STEP_SUMMARY": summary}, "dev: template diff", in)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	got, _ := os.ReadFile(summary)
	want := "### dev: template diff\n\n`````diff\n[+] AWS::SNS::Topic T\n```\n`````\n\n"
	if string(got) != want {
		t.Errorf("summary\n%q\nwant\n%q", got, want)
	}

	big := strings.Repeat("[~] AWS::IAM::Policy P\n", 100)
	if err := os.WriteFile(in, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	summary = filepath.Join(t.TempDir(), "summary")
	res = runScriptFile(t, "summarize-diff.sh", map[string]string{"GITHUB_STEP_SUMMARY": summary, "SUMMARY_MAX_BYTES": "100"}, "big", in)
	got, _ = os.ReadFile(summary)
	if res.code != 0 || !strings.Contains(string(got), "cut at 100 of") || len(got) > 300 {
		t.Errorf("oversized diff: exit %d, summary %d bytes: %q", res.code, len(got), got)
	}
	if !strings.Contains(res.stdout, strings.TrimSpace(big)) {
		t.Error("the log does not have the whole diff")
	}
}
