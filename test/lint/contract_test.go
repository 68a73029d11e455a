package lint

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestExamplesMatchTheReusableWorkflows checks each caller example against the
// reusable workflow it calls, as GitHub would at run time: the file exists, every
// `with:` key is a declared input of the right type, every required input is
// given, and the example for synapse-ops-<env> only ever names <env>.
// actionlint cannot check this for remote `uses:` references.
func TestExamplesMatchTheReusableWorkflows(t *testing.T) {
	all := parseWorkflows(t)
	var calls int
	for _, p := range all {
		if !p.isExample() {
			continue
		}
		repoEnv := strings.TrimPrefix(strings.Split(p.Path, "/")[1], "synapse-ops-")
		for _, j := range jobsOf(p.WF) {
			if j.WorkflowCall == nil {
				continue
			}
			where := fmt.Sprintf("%s job %s", p.Path, str(j.ID))
			m := coreWorkflowRE.FindStringSubmatch(str(j.WorkflowCall.Uses))
			if m == nil {
				t.Errorf("%s: calls %q, not a reusable workflow of %s", where, str(j.WorkflowCall.Uses), coreRepository)
				continue
			}
			calls++
			called := ownWorkflow(t, all, m[1])
			event, ok := called.FindWorkflowCallEvent()
			if !ok {
				t.Errorf("%s: %s is not reusable (no workflow_call)", where, m[1])
				continue
			}
			declared := map[string]*actionlint.WorkflowCallEventInput{}
			for _, in := range event.Inputs {
				declared[in.ID] = in
			}
			for key, in := range j.WorkflowCall.Inputs {
				decl, ok := declared[key]
				if !ok {
					t.Errorf("%s: input %q is not declared by %s", where, str(in.Name), m[1])
					continue
				}
				checkInputType(t, where, decl, str(in.Value))
			}
			for id, decl := range declared {
				if _, given := j.WorkflowCall.Inputs[id]; decl.IsRequired() && !given {
					t.Errorf("%s: required input %q of %s is missing", where, id, m[1])
				}
			}
			if in, ok := j.WorkflowCall.Inputs["environment"]; !ok || str(in.Value) != repoEnv {
				t.Errorf("%s: the synapse-ops-%s example must pass environment: %s", where, repoEnv, repoEnv)
			}
			if in, ok := j.WorkflowCall.Inputs["command"]; ok && strings.Contains(str(in.Value), "${{") {
				t.Errorf("%s: command contains an expression; pass values through parameters", where)
			}
		}
	}
	if calls == 0 {
		t.Fatal("no example calls a reusable workflow")
	}
}

// checkInputType refuses a literal value GitHub would reject for the input's type.
func checkInputType(t testing.TB, where string, decl *actionlint.WorkflowCallEventInput, value string) {
	t.Helper()
	if strings.Contains(value, "${{") {
		return
	}
	switch decl.Type {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		if value != "true" && value != "false" {
			t.Errorf("%s: input %s is boolean, got %q", where, decl.ID, value)
		}
	case actionlint.WorkflowCallEventInputTypeNumber:
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			t.Errorf("%s: input %s is a number, got %q", where, decl.ID, value)
		}
	}
}

// TestExamplesCoverTheUseCases: the examples show the three things the ops
// repositories do, for both dev and prod: a weekly deploy, a manual task with
// inputs, and a 30-hour task on the long pool.
func TestExamplesCoverTheUseCases(t *testing.T) {
	type seen struct{ weeklyDeploy, manualTask, longTask bool }
	byRepo := map[string]*seen{"dev": {}, "prod": {}}
	for _, p := range parseWorkflows(t) {
		if !p.isExample() {
			continue
		}
		s := byRepo[strings.TrimPrefix(strings.Split(p.Path, "/")[1], "synapse-ops-")]
		if s == nil {
			t.Errorf("%s: example for an unknown repository", p.Path)
			continue
		}
		var scheduled, dispatchInputs bool
		for _, ev := range p.WF.On {
			switch e := ev.(type) {
			case *actionlint.ScheduledEvent:
				scheduled = len(e.Schedules) > 0
			case *actionlint.WorkflowDispatchEvent:
				dispatchInputs = len(e.Inputs) > 0
			}
		}
		for _, j := range jobsOf(p.WF) {
			if j.WorkflowCall == nil {
				continue
			}
			uses := str(j.WorkflowCall.Uses)
			in := func(k string) string {
				if v, ok := j.WorkflowCall.Inputs[k]; ok {
					return str(v.Value)
				}
				return ""
			}
			switch {
			case strings.Contains(uses, "/deploy.yml@") && scheduled:
				s.weeklyDeploy = true
			case strings.Contains(uses, "/run-task.yml@") && in("pool") == "long":
				if n, _ := strconv.Atoi(in("timeout-minutes")); n >= 30*60 {
					s.longTask = true
				}
			case strings.Contains(uses, "/run-task.yml@") && dispatchInputs:
				s.manualTask = true
			}
		}
	}
	for repo, s := range byRepo {
		if !s.weeklyDeploy || !s.manualTask || !s.longTask {
			t.Errorf("synapse-ops-%s examples: weekly deploy %v, manual task with inputs %v, 30-hour task on the long pool %v",
				repo, s.weeklyDeploy, s.manualTask, s.longTask)
		}
	}
}
