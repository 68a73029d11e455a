package lint

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// A job that holds id-token: write can mint AWS credentials. Whatever code it
// runs runs with them, so it must never run a pull request's code: it checks
// out only the base commit or main (or, in a reusable workflow, the core ref
// its caller pins), and installs packages without running their install scripts.

// baseRefs are the checkout refs an id-token job may use.
var baseRefs = []string{
	"${{ github.event.pull_request.base.sha }}",
	"main",
	"refs/heads/main",
}

// reusableRef is a ref taken from a workflow_call input: the caller pins it.
var reusableRef = regexp.MustCompile(`^\$\{\{ inputs\.[A-Za-z0-9_-]+ \}\}$`)

// installCommand matches package installs that run lifecycle scripts unless told not to.
var installCommand = regexp.MustCompile(`(?m)\b(npm (ci|install|i)|yarn( install)?|pnpm (install|i))\b`)

func onlyWorkflowCall(wf *actionlint.Workflow) bool {
	return len(wf.On) > 0 && !slices.ContainsFunc(wf.On, func(e actionlint.Event) bool { return e.EventName() != "workflow_call" })
}

func triggeredByPullRequest(wf *actionlint.Workflow) bool {
	return slices.ContainsFunc(wf.On, func(e actionlint.Event) bool { return strings.HasPrefix(e.EventName(), "pull_request") })
}

func TestJobsWithIdTokenCheckOutOnlyTheBaseOrMainAndRunNoInstallScripts(t *testing.T) {
	found := 0
	for _, p := range parseWorkflows(t) {
		for _, j := range jobsOf(p.WF) {
			if scope(j.Permissions, "id-token") != "write" {
				continue
			}
			found++
			for i, s := range j.Steps {
				where := fmt.Sprintf("%s job %s step %d (%s)", p.Path, str(j.ID), i+1, str(s.Name))
				if strings.HasPrefix(stepUses(s), "actions/checkout@") {
					ref := stepWith(s, "ref")
					switch {
					case slices.Contains(baseRefs, ref):
					case reusableRef.MatchString(ref) && onlyWorkflowCall(p.WF):
					case ref == "" && !triggeredByPullRequest(p.WF):
					default:
						t.Errorf("%s: checks out %q in a job holding id-token: write; check out the base commit (github.event.pull_request.base.sha) or main, never the pull request's code", where, ref)
					}
				}
				if run, ok := s.Exec.(*actionlint.ExecRun); ok && run.Run != nil {
					for _, line := range strings.Split(run.Run.Value, "\n") {
						if installCommand.MatchString(line) && !strings.Contains(line, "--ignore-scripts") {
							t.Errorf("%s: %q runs install scripts in a job holding id-token: write; add --ignore-scripts", where, strings.TrimSpace(line))
						}
					}
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no job holds id-token: write; the workflows changed shape")
	}
}

func TestRunTaskRemovesTheAdminTokenFileWhateverHappens(t *testing.T) {
	wf := ownWorkflow(t, parseWorkflows(t), "run-task.yml")
	task := job(t, wf, "task")
	s, script := stepRun(t, task, "Remove the admin token file")
	if got := str(s.If); got != "always()" && got != "${{ always() }}" {
		t.Errorf("run-task.yml: the admin token cleanup runs if %q; it must run if: always(), after failures and cancellations too", got)
	}
	if !strings.Contains(script, "rm -f") || !strings.Contains(script, "synapse-admin-token") {
		t.Errorf("run-task.yml: the cleanup step does not remove the token file: %s", script)
	}
	if last := task.Steps[len(task.Steps)-1]; last != s {
		t.Errorf("run-task.yml: the cleanup is not the task job's last step")
	}
}
