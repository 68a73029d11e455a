package lint

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// The structural rules every workflow and caller example keeps. Each rule is a
// function from one parsed workflow to its problems, so that
// TestWorkflowStructure runs it over the repository's files and
// TestStructureRulesRefuseBadPatterns proves, on a broken workflow per rule,
// that it would fail.

var (
	// fullSHARE is a full-length commit SHA, the only ref a third-party action may have.
	fullSHARE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// versionCommentRE is the `# v1.2.3` comment that names the pinned release.
	versionCommentRE = regexp.MustCompile(`@[0-9a-f]{40}\s+#\s*v\d+(\.\d+){0,2}\b`)
	// releaseTagRE is a release tag of the core repository, as callers pin it.
	releaseTagRE = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	// npmInstallRE finds a package install; it runs install scripts unless told not to.
	npmInstallRE = regexp.MustCompile(`\bnpm\s+(ci|install|i|add|update|rebuild)\b[^\n;&|]*`)
	// otherInstallersRE are installers or runners that fetch and run packages.
	otherInstallersRE = regexp.MustCompile(`\b(npx|yarn|pnpm|bun)\b|\bnpm\s+exec\b`)
	// appCodeRE runs the app's or a module's Go code.
	appCodeRE = regexp.MustCompile(`\bgo\s+(run|build|test|generate|install|tool)\b|\bmake\b`)
)

type structureRule struct {
	name  string
	check func(p parsedWorkflow) []string
}

var structureRules = []structureRule{
	{"every uses: is pinned", checkPins},
	{"every job sets permissions", checkJobPermissions},
	{"no install script or app code near an OIDC token", checkCredentialedJobs},
	{"ci.yml has no secrets and no OIDC", checkCIWorkflow},
	{"deploy.yml synthesizes without a token and deploys the assembly", checkDeploySplit},
}

// TestWorkflowStructure runs every structural rule over every workflow and caller example.
func TestWorkflowStructure(t *testing.T) {
	all := parseWorkflows(t)
	var sawCI bool
	for _, p := range all {
		sawCI = sawCI || p.Path == ".github/workflows/ci.yml"
		for _, r := range structureRules {
			for _, problem := range r.check(p) {
				t.Errorf("%s: %s (rule: %s)", p.Path, problem, r.name)
			}
		}
	}
	if !sawCI {
		t.Error(".github/workflows/ci.yml does not exist: this repository's own CI must run on every pull request")
	}
}

// oidcJob reports whether a job can get an OIDC token: id-token: write at job
// level, or at workflow level when the job sets no permissions.
func oidcJob(wf *actionlint.Workflow, j *actionlint.Job) bool {
	if j.Permissions != nil {
		return scope(j.Permissions, "id-token") == "write" || (j.Permissions.All != nil && j.Permissions.All.Value == "write-all")
	}
	return wf.Permissions != nil && (scope(wf.Permissions, "id-token") == "write" || (wf.Permissions.All != nil && wf.Permissions.All.Value == "write-all"))
}

func runScript(s *actionlint.Step) string {
	if run, ok := s.Exec.(*actionlint.ExecRun); ok {
		return str(run.Run)
	}
	return ""
}

// checkPins: a third-party action or reusable workflow is pinned to a full
// commit SHA with its release in a comment (`@<sha> # v1.2.3`), so a moved tag
// cannot change what runs; a container to a digest. The core repository's
// workflows, as callers use them, are pinned to a release tag or a SHA (never a
// branch), and core-ref repeats that ref.
func checkPins(p parsedWorkflow) []string {
	var problems []string
	lines := strings.Split(string(p.Src), "\n")
	line := func(s *actionlint.String) string {
		if s == nil || s.Pos == nil || s.Pos.Line < 1 || s.Pos.Line > len(lines) {
			return ""
		}
		return lines[s.Pos.Line-1]
	}
	thirdParty := func(where string, uses *actionlint.String) {
		v := str(uses)
		switch {
		case strings.HasPrefix(v, "./"):
		case strings.HasPrefix(v, "docker://"):
			if !strings.Contains(v, "@sha256:") {
				problems = append(problems, fmt.Sprintf("%s: %s is not pinned to a digest", where, v))
			}
		default:
			_, ref, _ := strings.Cut(v, "@")
			if !fullSHARE.MatchString(ref) {
				problems = append(problems, fmt.Sprintf("%s: %s is pinned to %q, not a full commit SHA; use @<sha> # <version>", where, v, ref))
			} else if !versionCommentRE.MatchString(line(uses)) {
				problems = append(problems, fmt.Sprintf("%s: %s has no `# v<version>` comment naming the release of the SHA", where, v))
			}
		}
	}
	for _, j := range jobsOf(p.WF) {
		where := "job " + str(j.ID)
		if j.WorkflowCall != nil {
			uses := str(j.WorkflowCall.Uses)
			if m := coreWorkflowRE.FindStringSubmatch(uses); m != nil {
				ref := m[2]
				if !releaseTagRE.MatchString(ref) && !fullSHARE.MatchString(ref) {
					problems = append(problems, fmt.Sprintf("%s: %s is pinned to %q, not a release tag (v1.2.3) or a commit SHA", where, uses, ref))
				}
				if in, ok := j.WorkflowCall.Inputs["core-ref"]; !ok || str(in.Value) != ref {
					problems = append(problems, fmt.Sprintf("%s: core-ref must repeat the ref of %s (%s)", where, uses, ref))
				}
			} else {
				thirdParty(where, j.WorkflowCall.Uses)
			}
			if j.WorkflowCall.InheritSecrets {
				problems = append(problems, where+": secrets: inherit hands every secret to the called workflow")
			}
		}
		for i, s := range j.Steps {
			if a, ok := s.Exec.(*actionlint.ExecAction); ok {
				thirdParty(fmt.Sprintf("%s step %d", where, i+1), a.Uses)
			}
		}
	}
	return problems
}

// checkJobPermissions: every job states its own permissions, so none depends on
// the workflow's top level or the repository's default token.
func checkJobPermissions(p parsedWorkflow) []string {
	var problems []string
	for _, j := range jobsOf(p.WF) {
		if j.Permissions == nil {
			problems = append(problems, fmt.Sprintf("job %s sets no permissions", str(j.ID)))
		}
	}
	return problems
}

// checkCredentialedJobs: a job that can get an OIDC token installs packages
// only with --ignore-scripts, never runs npx/yarn/pnpm (which fetch and run
// packages), and runs none of the app's Go code (no Go set up, no go run or
// make): whatever runs there could use the role.
func checkCredentialedJobs(p parsedWorkflow) []string {
	var problems []string
	for _, j := range jobsOf(p.WF) {
		if !oidcJob(p.WF, j) {
			continue
		}
		for i, s := range j.Steps {
			where := fmt.Sprintf("job %s step %d (%s), which can get an OIDC token", str(j.ID), i+1, str(s.Name))
			if strings.HasPrefix(stepUses(s), "actions/setup-go@") {
				problems = append(problems, where+": sets up Go; build and synthesize in a job without id-token")
			}
			script := runScript(s)
			for _, m := range npmInstallRE.FindAllString(script, -1) {
				if !strings.Contains(m, "--ignore-scripts") {
					problems = append(problems, fmt.Sprintf("%s: %q runs install scripts; add --ignore-scripts", where, strings.TrimSpace(m)))
				}
			}
			if m := otherInstallersRE.FindString(script); m != "" {
				problems = append(problems, fmt.Sprintf("%s: runs %s, which can fetch and run a package; call ./node_modules/.bin/<tool> after npm ci --ignore-scripts", where, m))
			}
			if m := appCodeRE.FindString(script); m != "" {
				problems = append(problems, fmt.Sprintf("%s: runs %q; run code in a job without id-token and hand over its output", where, m))
			}
		}
	}
	return problems
}

// checkCIWorkflow: ci.yml runs on every pull request and on main, reads
// contents and nothing else, names no secret and cannot get an OIDC token.
func checkCIWorkflow(p parsedWorkflow) []string {
	if p.Path != ".github/workflows/ci.yml" {
		return nil
	}
	var problems []string
	if strings.Contains(string(p.Src), "secrets.") || strings.Contains(string(p.Src), "secrets:") {
		problems = append(problems, "names a secret; CI runs with none")
	}
	var pr, pushMain bool
	for _, ev := range p.WF.On {
		switch e := ev.(type) {
		case *actionlint.WebhookEvent:
			switch e.EventName() {
			case "pull_request":
				pr = e.Branches.IsEmpty() && e.BranchesIgnore.IsEmpty() && e.Paths.IsEmpty() && e.PathsIgnore.IsEmpty() && len(e.Types) == 0
			case "push":
				if e.Branches != nil {
					for _, b := range e.Branches.Values {
						pushMain = pushMain || str(b) == "main"
					}
				}
			default:
				problems = append(problems, "triggers on "+e.EventName()+"; only pull_request and push to main")
			}
		default:
			problems = append(problems, "triggers on "+ev.EventName()+"; only pull_request and push to main")
		}
	}
	if !pr || !pushMain {
		problems = append(problems, "must run on every pull request (no branch or path filter) and on pushes to main")
	}
	var runsCI bool
	for _, j := range jobsOf(p.WF) {
		if j.Permissions == nil || j.Permissions.All != nil || len(j.Permissions.Scopes) != 1 || scope(j.Permissions, "contents") != "read" {
			problems = append(problems, fmt.Sprintf("job %s: permissions must be exactly contents: read", str(j.ID)))
		}
		if !hosted(j) {
			problems = append(problems, fmt.Sprintf("job %s: runs on a self-hosted runner; CI runs on GitHub-hosted runners", str(j.ID)))
		}
		if j.TimeoutMinutes == nil || j.TimeoutMinutes.Value > 90 {
			problems = append(problems, fmt.Sprintf("job %s: timeout-minutes must be at most 90", str(j.ID)))
		}
		for _, s := range j.Steps {
			runsCI = runsCI || strings.TrimSpace(runScript(s)) == ".ci/run"
		}
	}
	if !runsCI {
		problems = append(problems, "no step runs .ci/run")
	}
	return problems
}

// checkDeploySplit: deploy.yml synthesizes in a job without id-token and
// uploads the cloud assembly; the one job that assumes the role downloads that
// artifact by the id the synth job reported and deploys it with
// `cdk deploy --app <assembly>`, synthesizing nothing itself.
func checkDeploySplit(p parsedWorkflow) []string {
	if p.Path != ".github/workflows/deploy.yml" {
		return nil
	}
	var problems []string
	var synthJob *actionlint.Job
	var deployJobs []*actionlint.Job
	for _, j := range jobsOf(p.WF) {
		for _, s := range j.Steps {
			if strings.Contains(runScript(s), "cdk synth") {
				synthJob = j
			}
		}
		if oidcJob(p.WF, j) {
			deployJobs = append(deployJobs, j)
		}
	}
	if synthJob == nil {
		return []string{"no job runs cdk synth"}
	}
	if oidcJob(p.WF, synthJob) {
		problems = append(problems, fmt.Sprintf("job %s synthesizes and can get an OIDC token; synthesize without id-token", str(synthJob.ID)))
	}
	var uploadID string
	for _, s := range synthJob.Steps {
		if strings.HasPrefix(stepUses(s), "actions/upload-artifact@") && stepWith(s, "path") == "cdk.out" && str(s.ID) != "" {
			uploadID = str(s.ID)
		}
	}
	if uploadID == "" {
		problems = append(problems, fmt.Sprintf("job %s does not upload cdk.out from a step with an id", str(synthJob.ID)))
	}
	var output string
	for name, o := range synthJob.Outputs {
		if str(o.Value) == "${{ steps."+uploadID+".outputs.artifact-id }}" {
			output = name
		}
	}
	if len(deployJobs) != 1 {
		return append(problems, fmt.Sprintf("%d jobs can get an OIDC token, want exactly the deploy job", len(deployJobs)))
	}
	d := deployJobs[0]
	if !slicesContainsString(d.Needs, str(synthJob.ID)) {
		problems = append(problems, fmt.Sprintf("job %s does not need the synth job %s", str(d.ID), str(synthJob.ID)))
	}
	var download, deployed string
	for _, s := range d.Steps {
		if strings.HasPrefix(stepUses(s), "actions/download-artifact@") {
			if want := "${{ needs." + str(synthJob.ID) + ".outputs." + output + " }}"; output == "" || stepWith(s, "artifact-ids") != want {
				problems = append(problems, fmt.Sprintf("job %s downloads %q, not the artifact id the synth job reported", str(d.ID), stepWith(s, "artifact-ids")+stepWith(s, "name")))
			}
			download = stepWith(s, "path")
		}
		script := runScript(s)
		if strings.Contains(script, "cdk synth") {
			problems = append(problems, fmt.Sprintf("job %s synthesizes; it must deploy the synth job's assembly", str(d.ID)))
		}
		if strings.Contains(script, "cdk deploy") {
			deployed = script
		}
	}
	switch {
	case download != "${{ runner.temp }}/cdk.out":
		problems = append(problems, fmt.Sprintf("job %s does not download the assembly to ${{ runner.temp }}/cdk.out", str(d.ID)))
	case !strings.Contains(deployed, `assembly="${RUNNER_TEMP}/cdk.out"`) || !strings.Contains(deployed, `cdk deploy --app "${assembly}"`):
		problems = append(problems, fmt.Sprintf("job %s does not run cdk deploy --app on the downloaded assembly", str(d.ID)))
	}
	return problems
}

// TestStructureRulesRefuseBadPatterns breaks a workflow once per pattern the
// rules exist for and checks the rule reports it.
func TestStructureRulesRefuseBadPatterns(t *testing.T) {
	const sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
	job := func(perms, steps string) string {
		return "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n" + perms + "    steps:\n" + steps
	}
	oidc := "    permissions:\n      contents: read\n      id-token: write\n"
	read := "    permissions:\n      contents: read\n"
	cases := []struct {
		name, path, yaml, want string
		rule                   func(parsedWorkflow) []string
	}{
		{"action pinned to a tag", ".github/workflows/x.yml", job(read, "      - uses: actions/checkout@v7\n"), "not a full commit SHA", checkPins},
		{"action pinned to a branch", ".github/workflows/x.yml", job(read, "      - uses: actions/checkout@main\n"), "not a full commit SHA", checkPins},
		{"short SHA", ".github/workflows/x.yml", job(read, "      - uses: actions/checkout@3d3c42e # v7.0.1\n"), "not a full commit SHA", checkPins},
		{"SHA without a version comment", ".github/workflows/x.yml", job(read, "      - uses: actions/checkout@"+sha+"\n"), "no `# v<version>` comment", checkPins},
		{"container by tag", ".github/workflows/x.yml", job(read, "      - uses: docker://alpine:3\n"), "not pinned to a digest", checkPins},
		{"caller at main", "examples/synapse-ops-dev/.github/workflows/x.yml",
			"on: push\npermissions: {}\njobs:\n  a:\n    permissions:\n      contents: read\n    uses: " + coreRepository + "/.github/workflows/run-task.yml@main\n    with:\n      core-ref: main\n",
			"not a release tag", checkPins},
		{"caller core-ref differs", "examples/synapse-ops-dev/.github/workflows/x.yml",
			"on: push\npermissions: {}\njobs:\n  a:\n    permissions:\n      contents: read\n    uses: " + coreRepository + "/.github/workflows/run-task.yml@v1.2.0\n    with:\n      core-ref: v1.1.0\n",
			"core-ref must repeat", checkPins},
		{"job without permissions", ".github/workflows/x.yml", job("", "      - run: echo hi\n"), "sets no permissions", checkJobPermissions},
		{"npm ci with a token", ".github/workflows/x.yml", job(oidc, "      - run: npm ci\n"), "add --ignore-scripts", checkCredentialedJobs},
		{"npm install with a token", ".github/workflows/x.yml", job(oidc, "      - run: |\n          npm install --no-audit && npm ci --ignore-scripts\n"), "add --ignore-scripts", checkCredentialedJobs},
		{"token at the top level", ".github/workflows/x.yml",
			"on: push\npermissions:\n  id-token: write\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: npm ci\n", "add --ignore-scripts", checkCredentialedJobs},
		{"npx with a token", ".github/workflows/x.yml", job(oidc, "      - run: npx cdk deploy\n"), "can fetch and run a package", checkCredentialedJobs},
		{"go run with a token", ".github/workflows/x.yml", job(oidc, "      - run: go run .\n"), "run code in a job without id-token", checkCredentialedJobs},
		{"setup-go with a token", ".github/workflows/x.yml", job(oidc, "      - uses: actions/setup-go@"+sha+" # v7.0.0\n"), "sets up Go", checkCredentialedJobs},
		{"ci.yml with a secret", ".github/workflows/ci.yml",
			"on:\n  pull_request:\n  push:\n    branches: [main]\npermissions: {}\njobs:\n  ci:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 90\n    permissions:\n      contents: read\n    steps:\n      - run: .ci/run\n        env:\n          T: ${{ secrets.TOKEN }}\n",
			"names a secret", checkCIWorkflow},
		{"ci.yml with OIDC", ".github/workflows/ci.yml",
			"on:\n  pull_request:\n  push:\n    branches: [main]\npermissions: {}\njobs:\n  ci:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 90\n    permissions:\n      contents: read\n      id-token: write\n    steps:\n      - run: .ci/run\n",
			"exactly contents: read", checkCIWorkflow},
		{"ci.yml only on some pull requests", ".github/workflows/ci.yml",
			"on:\n  pull_request:\n    paths: ['**.go']\n  push:\n    branches: [main]\npermissions: {}\njobs:\n  ci:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 90\n    permissions:\n      contents: read\n    steps:\n      - run: .ci/run\n",
			"every pull request", checkCIWorkflow},
		{"deploy synthesizes with the role", ".github/workflows/deploy.yml",
			"on: push\npermissions: {}\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n" + oidc + "    steps:\n      - run: npx cdk synth\n      - run: ./node_modules/.bin/cdk deploy --app cdk.out\n",
			"synthesize without id-token", checkDeploySplit},
		{"deploy downloads by name", ".github/workflows/deploy.yml",
			"on: push\npermissions: {}\njobs:\n  synth:\n    runs-on: ubuntu-24.04\n" + read +
				"    outputs:\n      assembly: ${{ steps.upload.outputs.artifact-id }}\n    steps:\n      - run: npx cdk synth\n      - id: upload\n        uses: actions/upload-artifact@" + sha + " # v7.0.0\n        with:\n          path: cdk.out\n" +
				"  deploy:\n    needs: synth\n    runs-on: ubuntu-24.04\n" + oidc +
				"    steps:\n      - uses: actions/download-artifact@" + sha + " # v8.0.1\n        with:\n          name: cdk-out\n          path: ${{ runner.temp }}/cdk.out\n      - run: |\n          assembly=\"${RUNNER_TEMP}/cdk.out\"\n          ./node_modules/.bin/cdk deploy --app \"${assembly}\"\n",
			"not the artifact id", checkDeploySplit},
		{"deploy runs the app", ".github/workflows/deploy.yml",
			"on: push\npermissions: {}\njobs:\n  synth:\n    runs-on: ubuntu-24.04\n" + read +
				"    outputs:\n      assembly: ${{ steps.upload.outputs.artifact-id }}\n    steps:\n      - run: npx cdk synth\n      - id: upload\n        uses: actions/upload-artifact@" + sha + " # v7.0.0\n        with:\n          path: cdk.out\n" +
				"  deploy:\n    needs: synth\n    runs-on: ubuntu-24.04\n" + oidc +
				"    steps:\n      - uses: actions/download-artifact@" + sha + " # v8.0.1\n        with:\n          artifact-ids: ${{ needs.synth.outputs.assembly }}\n          path: ${{ runner.temp }}/cdk.out\n      - run: ./node_modules/.bin/cdk deploy\n",
			"does not run cdk deploy --app", checkDeploySplit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wf, errs := actionlint.Parse([]byte(tc.yaml))
			if len(errs) > 0 || wf == nil {
				t.Fatalf("the broken workflow does not parse: %v", errs)
			}
			problems := tc.rule(parsedWorkflow{Path: tc.path, WF: wf, Src: []byte(tc.yaml)})
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("the rule did not report %q; it reported %q", tc.want, problems)
			}
		})
	}
}
