package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

const (
	// maxLongTimeoutMinutes is the most a task may run on the long pool: 72 hours,
	// room for a 30-hour migration and its reruns without an unbounded job.
	maxLongTimeoutMinutes = 4320
	// maxDefaultTimeoutMinutes matches the default pool's 8-hour max-runtime watchdog.
	maxDefaultTimeoutMinutes = 480
	// maxHostedTimeoutMinutes is GitHub's own limit for GitHub-hosted runners.
	maxHostedTimeoutMinutes = 360

	configureAWSCredentials = "aws-actions/configure-aws-credentials"
)

var (
	// The reusable workflows of the core repository, as callers reference them.
	coreWorkflowRE = regexp.MustCompile(`^` + regexp.QuoteMeta(coreRepository) + `/\.github/workflows/([A-Za-z0-9_.-]+\.ya?ml)@(.+)$`)
)

// jobsOf iterates a workflow's jobs in a stable order.
func jobsOf(wf *actionlint.Workflow) []*actionlint.Job {
	var out []*actionlint.Job
	for _, j := range wf.Jobs {
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b *actionlint.Job) int { return strings.Compare(str(a.ID), str(b.ID)) })
	return out
}

// usesOIDC reports whether a job assumes an AWS role through GitHub OIDC, either
// itself (configure-aws-credentials with role-to-assume) or by calling one of
// the core repository's reusable workflows that does.
func usesOIDC(t testing.TB, all []parsedWorkflow, j *actionlint.Job) bool {
	for _, s := range j.Steps {
		if strings.HasPrefix(stepUses(s), configureAWSCredentials+"@") && stepWith(s, "role-to-assume") != "" {
			return true
		}
	}
	if j.WorkflowCall != nil {
		if m := coreWorkflowRE.FindStringSubmatch(str(j.WorkflowCall.Uses)); m != nil {
			called := ownWorkflow(t, all, m[1])
			for _, cj := range jobsOf(called) {
				if usesOIDC(t, all, cj) {
					return true
				}
			}
		}
	}
	return false
}

// TestPermissionsAreExplicitAndMinimal: every job runs with explicitly declared
// permissions; the only writable scope anywhere is id-token, and only on jobs
// that use GitHub OIDC, which in turn must have it.
func TestPermissionsAreExplicitAndMinimal(t *testing.T) {
	all := parseWorkflows(t)
	for _, p := range all {
		if perm := p.WF.Permissions; perm != nil {
			checkScopes(t, p.Path+" (top level)", perm, false)
		}
		for _, j := range jobsOf(p.WF) {
			where := fmt.Sprintf("%s job %s", p.Path, str(j.ID))
			if j.Permissions == nil && p.WF.Permissions == nil {
				t.Errorf("%s: no permissions at job or top level (the repository default would apply)", where)
				continue
			}
			oidc := usesOIDC(t, all, j)
			if j.Permissions != nil {
				checkScopes(t, where, j.Permissions, oidc)
			}
			if oidc && scope(j.Permissions, "id-token") != "write" {
				t.Errorf("%s: uses GitHub OIDC but does not grant id-token: write at job level", where)
			}
		}
	}
}

// checkScopes refuses write-all and every writable scope except id-token where
// OIDC is in use.
func checkScopes(t testing.TB, where string, perm *actionlint.Permissions, oidc bool) {
	t.Helper()
	if perm.All != nil {
		t.Errorf("%s: permissions: %s; list the scopes instead", where, perm.All.Value)
	}
	for name, s := range perm.Scopes {
		v := str(s.Value)
		switch {
		case v != "write":
		case name == "id-token" && oidc:
		case name == "id-token":
			t.Errorf("%s: id-token: write without any use of GitHub OIDC", where)
		default:
			t.Errorf("%s: %s: write; nothing but id-token may be writable", where, name)
		}
	}
}

func scope(perm *actionlint.Permissions, name string) string {
	if perm == nil {
		return ""
	}
	if s, ok := perm.Scopes[name]; ok {
		return str(s.Value)
	}
	return ""
}

// TestNoPullRequestTarget: pull_request_target runs with the base repository's
// secrets and a writable token on code from forks; nothing here needs it.
func TestNoPullRequestTarget(t *testing.T) {
	for _, p := range parseWorkflows(t) {
		for _, ev := range p.WF.On {
			if ev.EventName() == "pull_request_target" || ev.EventName() == "workflow_run" {
				t.Errorf("%s: triggers on %s", p.Path, ev.EventName())
			}
		}
	}
}

// TestCheckoutLeavesNoToken: actions/checkout must not leave GITHUB_TOKEN in
// .git/config, where every later step (and a 30-hour task) could read it.
func TestCheckoutLeavesNoToken(t *testing.T) {
	for _, p := range parseWorkflows(t) {
		for _, j := range jobsOf(p.WF) {
			for i, s := range j.Steps {
				if strings.HasPrefix(stepUses(s), "actions/checkout@") && stepWith(s, "persist-credentials") != "false" {
					t.Errorf("%s job %s step %d: actions/checkout without persist-credentials: false", p.Path, str(j.ID), i+1)
				}
			}
		}
	}
}

// TestNoExpressionsInScripts: a `${{ }}` inside a run: script is pasted into the
// script before bash sees it, so an input or event field could run as code.
// Every value reaches the scripts through env: instead.
func TestNoExpressionsInScripts(t *testing.T) {
	for _, p := range parseWorkflows(t) {
		for _, j := range jobsOf(p.WF) {
			for i, s := range j.Steps {
				if run, ok := s.Exec.(*actionlint.ExecRun); ok && strings.Contains(str(run.Run), "${{") {
					t.Errorf("%s job %s step %d (%s): ${{ }} inside run:; pass the value through env:", p.Path, str(j.ID), i+1, str(s.Name))
				}
			}
		}
	}
}

// TestTimeoutsAreBounded: every job that runs steps has a timeout; a literal one
// is at most 4320 minutes (360 on GitHub-hosted runners). run-task's timeout is
// computed by its check job, whose caps are checked here and whose use of the
// pools' watchdogs TestRunTaskTimeoutFollowsTheWatchdog runs. A caller
// example's timeout must fit the pool it asks for in its own environment.
func TestTimeoutsAreBounded(t *testing.T) {
	all := parseWorkflows(t)
	envs := map[string]config.Environment{}
	for _, e := range environments(t) {
		envs[e.Name] = e
	}
	for _, p := range all {
		for _, j := range jobsOf(p.WF) {
			where := fmt.Sprintf("%s job %s", p.Path, str(j.ID))
			if j.WorkflowCall != nil {
				checkCallerTimeout(t, where, envs, j.WorkflowCall)
				continue
			}
			tm := j.TimeoutMinutes
			switch {
			case tm == nil:
				t.Errorf("%s: no timeout-minutes (GitHub's default is 360, or 5 days on self-hosted runners)", where)
			case tm.Expression != nil:
				if p.Path != ".github/workflows/run-task.yml" || str(j.ID) != "task" ||
					tm.Expression.Value != "${{ fromJSON(needs.check.outputs.timeout-minutes) }}" {
					t.Errorf("%s: timeout-minutes %s is an expression; only run-task's checked timeout may be", where, tm.Expression.Value)
				}
			case tm.Value <= 0 || tm.Value > maxLongTimeoutMinutes:
				t.Errorf("%s: timeout-minutes %v is not within 1..%d", where, tm.Value, maxLongTimeoutMinutes)
			case hosted(j) && tm.Value > maxHostedTimeoutMinutes:
				t.Errorf("%s: timeout-minutes %v is more than GitHub-hosted runners allow (%d)", where, tm.Value, maxHostedTimeoutMinutes)
			}
		}
	}

	check := job(t, ownWorkflow(t, all, "run-task.yml"), "check")
	step, _ := stepRun(t, check, "Check the environment, pool and timeout")
	env := stepEnv(step)
	limits := map[string]int{"DEFAULT_POOL_MAX_MINUTES": maxDefaultTimeoutMinutes, "LONG_POOL_MAX_MINUTES": maxLongTimeoutMinutes}
	for name, most := range limits {
		n, err := strconv.Atoi(env[name])
		if err != nil || n <= 0 || n > most {
			t.Errorf("run-task check: %s = %q, want a number in 1..%d", name, env[name], most)
		}
	}
}

// checkCallerTimeout checks the timeout a caller example passes to run-task
// against the pool it asks for, in the environment it names: at most the
// pool's max-runtime watchdog and run-task's cap.
func checkCallerTimeout(t testing.TB, where string, envs map[string]config.Environment, call *actionlint.WorkflowCall) {
	t.Helper()
	in := func(name string) string {
		if v, ok := call.Inputs[name]; ok {
			return str(v.Value)
		}
		return ""
	}
	raw := in("timeout-minutes")
	if raw == "" {
		return
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		t.Errorf("%s: timeout-minutes %q is not a literal number of minutes", where, raw)
		return
	}
	pool := in("pool")
	if pool == "" {
		pool = "default"
	}
	e, ok := envs[in("environment")]
	if !ok {
		t.Errorf("%s: environment %q is not configured in environments/", where, in("environment"))
		return
	}
	most, ok := poolTimeoutLimit(e, pool)
	if !ok {
		t.Errorf("%s: environment %s has no pool %q", where, e.Name, pool)
		return
	}
	if n <= 0 || n > most {
		t.Errorf("%s: timeout-minutes %d is not within 1..%d for pool %q of %s (maxRuntimeHours and run-task's cap)", where, n, most, pool, e.Name)
	}
}

// hosted reports whether a job runs on a GitHub-hosted ubuntu runner.
func hosted(j *actionlint.Job) bool {
	if j.RunsOn == nil {
		return false
	}
	for _, l := range j.RunsOn.Labels {
		if strings.HasPrefix(str(l), "ubuntu-") {
			return true
		}
	}
	return false
}

// TestDeployIsSerializedAndGated: one deploy per environment at a time, never
// cancelled half way, in the GitHub environment named after it (so the prod path
// runs in `prod`, with its reviewers), after a check against CONTEXT.
func TestDeployIsSerializedAndGated(t *testing.T) {
	all := parseWorkflows(t)
	wf := ownWorkflow(t, all, "deploy.yml")
	call, ok := wf.FindWorkflowCallEvent()
	if !ok {
		t.Fatal("deploy.yml is not a reusable workflow (on: workflow_call)")
	}
	var hasEnvInput bool
	for _, in := range call.Inputs {
		if in.ID == "environment" && in.IsRequired() {
			hasEnvInput = true
		}
	}
	if !hasEnvInput {
		t.Error("deploy.yml: no required input `environment`")
	}

	var deployJobs int
	for _, j := range jobsOf(wf) {
		if !usesOIDC(t, all, j) {
			continue
		}
		deployJobs++
		where := "deploy.yml job " + str(j.ID)
		if j.Concurrency == nil || !strings.Contains(str(j.Concurrency.Group), "${{ inputs.environment }}") {
			t.Errorf("%s: concurrency group is not per environment", where)
		} else if j.Concurrency.CancelInProgress == nil || j.Concurrency.CancelInProgress.Value || j.Concurrency.CancelInProgress.Expression != nil {
			t.Errorf("%s: cancel-in-progress must be false: a cancelled deploy leaves CloudFormation mid-update", where)
		}
		if j.Environment == nil || str(j.Environment.Name) != "${{ inputs.environment }}" {
			t.Errorf("%s: must run in the GitHub environment named by inputs.environment (prod for prod)", where)
		}
		if !slicesContainsString(j.Needs, "check") {
			t.Errorf("%s: does not wait for the check job", where)
		}
		var deploys int
		for _, s := range j.Steps {
			if run, ok := s.Exec.(*actionlint.ExecRun); ok && strings.Contains(str(run.Run), "cdk deploy") {
				deploys++
				script := str(run.Run)
				for _, want := range []string{`--app "${assembly}"`, `"${selector}"`, "--require-approval never"} {
					if !strings.Contains(script, want) {
						t.Errorf("%s: cdk deploy without %s", where, want)
					}
				}
			}
			if strings.HasPrefix(stepUses(s), configureAWSCredentials+"@") {
				if stepWith(s, "role-to-assume") != "${{ vars.ROLE_TO_ASSUME }}" {
					t.Errorf("%s: assumes %q, want vars.ROLE_TO_ASSUME", where, stepWith(s, "role-to-assume"))
				}
				if stepWith(s, "allowed-account-ids") == "" {
					t.Errorf("%s: configure-aws-credentials without allowed-account-ids", where)
				}
			}
		}
		if deploys != 1 {
			t.Errorf("%s: %d steps run cdk deploy, want 1", where, deploys)
		}
	}
	if deployJobs != 1 {
		t.Errorf("deploy.yml: %d jobs use OIDC, want exactly the deploy job", deployJobs)
	}
	_, script := stepRun(t, job(t, wf, "check"), "Check the environment against CONTEXT")
	if !strings.Contains(script, `"${ENVIRONMENT}" == "${CONTEXT}"`) {
		t.Error("deploy.yml check job does not compare the environment with CONTEXT")
	}

	// The prod caller deploys prod, in the prod environment.
	for _, p := range all {
		if !p.isExample() {
			continue
		}
		for _, j := range jobsOf(p.WF) {
			if j.WorkflowCall == nil || !strings.Contains(str(j.WorkflowCall.Uses), "/deploy.yml@") {
				continue
			}
			want := strings.TrimPrefix(strings.Split(p.Path, "/")[1], "synapse-ops-")
			if got := str(j.WorkflowCall.Inputs["environment"].Value); got != want {
				t.Errorf("%s: deploys %q from the %s repository", p.Path, got, want)
			}
		}
	}
}

func slicesContainsString(ss []*actionlint.String, want string) bool {
	for _, s := range ss {
		if strings.EqualFold(str(s), want) {
			return true
		}
	}
	return false
}

// TestRunTaskMasksTokenFirst: the admin token step is the task job's first step,
// it masks the value, and the value never goes where other steps or the job's
// outputs would carry it (GITHUB_ENV, GITHUB_OUTPUT). TestAdminTokenStep runs
// the script and proves the mask comes before any other output.
func TestRunTaskMasksTokenFirst(t *testing.T) {
	wf := ownWorkflow(t, parseWorkflows(t), "run-task.yml")
	task := job(t, wf, "task")
	if len(task.Steps) == 0 || str(task.Steps[0].Name) != "Read the Synapse admin token" {
		t.Fatalf("run-task.yml: the first step of the task job must read and mask the admin token")
	}
	_, script := stepRun(t, task, "Read the Synapse admin token")
	mask := strings.Index(script, `echo "::add-mask::${token}"`)
	if mask < 0 {
		t.Fatal("run-task.yml: the admin token step does not ::add-mask:: the token")
	}
	for _, leak := range []string{"GITHUB_ENV", "GITHUB_OUTPUT", "set -x"} {
		if strings.Contains(script, leak) {
			t.Errorf("run-task.yml: the admin token step uses %s", leak)
		}
	}
	// Before the mask the token may only be tested, never printed or written.
	for _, line := range strings.Split(script[:mask], "\n") {
		if strings.Contains(line, "${token}") && !strings.Contains(line, "[[") {
			t.Errorf("run-task.yml: the token is used before it is masked: %q", strings.TrimSpace(line))
		}
	}
	if task.Permissions == nil || len(task.Permissions.Scopes) != 1 || scope(task.Permissions, "contents") != "read" {
		t.Error("run-task.yml task job: permissions must be exactly contents: read (no OIDC on the runners)")
	}
	for name := range task.Outputs {
		t.Errorf("run-task.yml task job: has output %q; task jobs have no outputs that could carry the token", name)
	}
}

// TestRunTaskCheckJobReadsOnlyEnvironments: run-task's check job may read
// contents (to check out the environment files) and nothing else; its
// checkout is of synapse-ops-core's environments/ only, at the core-ref input,
// leaves no token behind, and comes before the step that reads the files.
func TestRunTaskCheckJobReadsOnlyEnvironments(t *testing.T) {
	wf := ownWorkflow(t, parseWorkflows(t), "run-task.yml")
	check := job(t, wf, "check")
	if check.Permissions == nil || len(check.Permissions.Scopes) != 1 || scope(check.Permissions, "contents") != "read" || check.Permissions.All != nil {
		t.Error("run-task.yml check job: permissions must be exactly contents: read")
	}
	if len(check.Steps) == 0 || !strings.HasPrefix(stepUses(check.Steps[0]), "actions/checkout@") {
		t.Fatal("run-task.yml check job: the first step must check out the environment files")
	}
	co := check.Steps[0]
	for name, want := range map[string]string{
		"repository":          "${{ inputs.core-repository }}",
		"ref":                 "${{ inputs.core-ref }}",
		"sparse-checkout":     "environments",
		"persist-credentials": "false",
	} {
		if got := stepWith(co, name); got != want {
			t.Errorf("run-task.yml check job checkout: %s is %q, want %q", name, got, want)
		}
	}
	call, ok := wf.FindWorkflowCallEvent()
	if !ok {
		t.Fatal("run-task.yml is not a reusable workflow")
	}
	for _, in := range call.Inputs {
		switch in.ID {
		case "core-repository":
			if str(in.Default) != coreRepository {
				t.Errorf("run-task.yml: core-repository defaults to %q, want %s", str(in.Default), coreRepository)
			}
		case "core-ref":
			// No default: a caller pinned to a release must not read main's limits.
			if !in.IsRequired() || in.Default != nil {
				t.Error("run-task.yml: core-ref must be required, with no default")
			}
		}
	}
	step, _ := stepRun(t, check, "Check the environment, pool and timeout")
	if env := stepEnv(step); env["ENVIRONMENTS_DIR"] != config.DefaultDir {
		t.Errorf("run-task.yml check step reads %q, want the checked-out %s", env["ENVIRONMENTS_DIR"], config.DefaultDir)
	}
}

// headerOnCommandLineRE finds a credential passed to curl or wget as an
// argument: a header value (-H/--header "Authorization: ...") or user:password.
var headerOnCommandLineRE = regexp.MustCompile(`(?i)(-H|--header)[\s=]*["']?(Authorization|X-Api-Key|Cookie):|(-u|--user)[\s=]+["']?[^\s"']*:\$|--password[\s=]`)

// TestNoCredentialOnACommandLine: every process on a runner can read the
// command lines of the others in /proc, so the docs, examples, workflows and
// scripts pass headers through standard input or a file (curl -H @-).
func TestNoCredentialOnACommandLine(t *testing.T) {
	root := repoRoot(t)
	var checked int
	for _, rel := range repoFiles(t, root) {
		slash := filepath.ToSlash(rel)
		if !strings.HasSuffix(slash, ".md") && !strings.HasSuffix(slash, ".yml") && !strings.HasSuffix(slash, ".sh") {
			continue
		}
		if strings.HasPrefix(slash, "node_modules/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			continue // deleted in the working tree
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if headerOnCommandLineRE.MatchString(line) {
				t.Errorf("%s:%d: a credential on a command line (visible in /proc); pass it with -H @- or a 0600 file: %s", slash, i+1, strings.TrimSpace(line))
			}
		}
	}
	for _, bad := range []string{
		`curl -H "Authorization: Bearer ${SYNAPSE_ADMIN_TOKEN}" "${SYNAPSE_HOST}/repo/v1/x"`,
		`curl --header 'authorization: Bearer x' u`,
		`curl -u "admin:${PASSWORD}" u`,
	} {
		if !headerOnCommandLineRE.MatchString(bad) {
			t.Errorf("the check misses %q", bad)
		}
	}
	if good := `curl -sS -H @- "${SYNAPSE_HOST}/repo/v1/x" <<<"Authorization: Bearer ${SYNAPSE_ADMIN_TOKEN}"`; headerOnCommandLineRE.MatchString(good) {
		t.Errorf("the check refuses the documented form %q", good)
	}
	if checked < 5 {
		t.Errorf("checked only %d files", checked)
	}
}
