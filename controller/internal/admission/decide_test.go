package admission_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/internal/admission"
)

const (
	prodRepo   = "Sage-Bionetworks/synapse-ops-prod"
	runTask    = "Sage-Bionetworks/synapse-ops-core/.github/workflows/run-task.yml"
	runTaskRef = runTask + "@refs/heads/main"
	mainSHA    = "1111111111111111111111111111111111111111"
)

// prodPolicy is the committed prod admission.
func prodPolicy() admission.Policy {
	return admission.Policy{
		Workflows:    []string{runTaskRef},
		Events:       []string{"workflow_dispatch", "schedule"},
		Branches:     []string{"main"},
		Repositories: []string{prodRepo},
	}
}

// dispatched is the admitted case: remove-user.yml on main of the prod
// repository, dispatched by hand, calling ops-core's run-task.yml at main.
func dispatched() (admission.Job, *admission.Run) {
	job := admission.Job{
		JobWorkflowRef: runTaskRef, EventName: "workflow_dispatch",
		OwnerName: "Sage-Bionetworks", RepositoryName: "synapse-ops-prod", WorkflowRunID: 42,
	}
	run := &admission.Run{
		Repository: prodRepo, HeadRepository: prodRepo,
		HeadBranch: "main", HeadSHA: mainSHA, HeadOnBranch: true,
		Event: "workflow_dispatch", Path: ".github/workflows/remove-user.yml",
		Referenced: []string{runTaskRef},
		URL:        "https://github.com/Sage-Bionetworks/synapse-ops-prod/actions/runs/42",
	}
	return job, run
}

// TestDecide_AdmissionMatrix is the matrix: one admitted job and every
// way an attacker with push access, a fork, or another repository could try
// to get a job onto the prod runners. Each denial must name its rule.
func TestDecide_AdmissionMatrix(t *testing.T) {
	cases := []struct {
		name     string
		change   func(j *admission.Job, r *admission.Run)
		lookup   error // when set, the run is unknown
		wantRule string
	}{
		{name: "ops-core workflow at main, dispatched from main", change: func(*admission.Job, *admission.Run) {}, wantRule: admission.RuleAdmitted},
		{name: "scheduled from main", wantRule: admission.RuleAdmitted, change: func(j *admission.Job, r *admission.Run) {
			j.EventName, r.Event = "schedule", "schedule"
		}},
		{name: "same workflow dispatched from a feature branch", wantRule: admission.RuleBranches, change: func(j *admission.Job, r *admission.Run) {
			r.HeadBranch, r.HeadSHA = "feature-x", "2222222222222222222222222222222222222222"
		}},
		{name: "push-triggered workflow in the prod repository", wantRule: admission.RuleEvents, change: func(j *admission.Job, r *admission.Run) {
			j.EventName, r.Event = "push", "push"
		}},
		{name: "push-triggered job that defines its own steps", wantRule: admission.RuleWorkflows, change: func(j *admission.Job, r *admission.Run) {
			j.JobWorkflowRef = prodRepo + "/.github/workflows/evil.yml@refs/heads/evil"
			j.EventName, r.Event, r.HeadBranch, r.Path, r.Referenced = "push", "push", "evil", ".github/workflows/evil.yml", nil
		}},
		{name: "pull_request run", wantRule: admission.RuleEvents, change: func(j *admission.Job, r *admission.Run) {
			j.EventName, r.Event = "pull_request", "pull_request"
		}},
		{name: "fork's run", wantRule: admission.RuleFork, change: func(j *admission.Job, r *admission.Run) {
			r.HeadRepository = "mallory/synapse-ops-prod"
		}},
		{name: "fork's run with no head repository", wantRule: admission.RuleFork, change: func(j *admission.Job, r *admission.Run) {
			r.HeadRepository = ""
		}},
		{name: "another repository's workflow", wantRule: admission.RuleRepositories, change: func(j *admission.Job, r *admission.Run) {
			j.RepositoryName = "synapse-ops-dev"
			r.Repository, r.HeadRepository = "Sage-Bionetworks/synapse-ops-dev", "Sage-Bionetworks/synapse-ops-dev"
		}},
		{name: "run-task.yml at refs/heads/main-evil", wantRule: admission.RuleWorkflows, change: func(j *admission.Job, r *admission.Run) {
			j.JobWorkflowRef = runTask + "@refs/heads/main-evil"
			r.Referenced = []string{j.JobWorkflowRef}
		}},
		{name: "run-task.yml at a short ref", wantRule: admission.RuleWorkflows, change: func(j *admission.Job, r *admission.Run) {
			j.JobWorkflowRef = runTask + "@main"
		}},
		{name: "workflow_ref with a different owner", wantRule: admission.RuleWorkflows, change: func(j *admission.Job, r *admission.Run) {
			j.JobWorkflowRef = "mallory/synapse-ops-core/.github/workflows/run-task.yml@refs/heads/main"
			r.Referenced = []string{j.JobWorkflowRef}
		}},
		{name: "run whose workflow file path differs", wantRule: admission.RulePath, change: func(j *admission.Job, r *admission.Run) {
			// The run never calls run-task.yml: the message and the run disagree.
			r.Path, r.Referenced = ".github/workflows/evil.yml", []string{runTask + "@refs/heads/evil"}
		}},
		{name: "run whose path leaves the workflows directory", wantRule: admission.RulePath, change: func(j *admission.Job, r *admission.Run) {
			r.Path = "dynamic/copilot-swe-agent/copilot"
		}},
		{name: "verdict that never arrives (lookup timed out)", wantRule: admission.RuleLookup, lookup: fmt.Errorf("%w: get workflow run: no answer in time", admission.ErrUnknown)},
		{name: "run of another repository than the message's", wantRule: admission.RuleRepository, change: func(j *admission.Job, r *admission.Run) {
			r.Repository, r.HeadRepository = "Sage-Bionetworks/other", "Sage-Bionetworks/other"
		}},
		{name: "run event differs from the message's", wantRule: admission.RuleRunEvent, change: func(j *admission.Job, r *admission.Run) {
			r.Event = "push"
		}},
		{name: "tag named main", wantRule: admission.RuleHeadOnBranch, change: func(j *admission.Job, r *admission.Run) {
			r.HeadOnBranch, r.HeadSHA = false, "3333333333333333333333333333333333333333"
		}},
		{name: "empty message", wantRule: admission.RuleRepositories, change: func(j *admission.Job, r *admission.Run) {
			*j = admission.Job{}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job, run := dispatched()
			if c.change != nil {
				c.change(&job, run)
			}
			if c.lookup != nil {
				run = nil
			}
			v := admission.Decide(prodPolicy(), job, run, c.lookup)
			if v.Rule != c.wantRule {
				t.Fatalf("rule %q (%s), want %q", v.Rule, v.Reason, c.wantRule)
			}
			if v.Allow != (c.wantRule == admission.RuleAdmitted) {
				t.Fatalf("allow=%v for rule %s", v.Allow, v.Rule)
			}
			if v.Reason == "" {
				t.Error("a verdict without a reason")
			}
		})
	}
}

func TestDecide_GivenDevWildcards_ThenStarStaysInOneSegment(t *testing.T) {
	dev := admission.Policy{
		Workflows:    []string{"Sage-Bionetworks/synapse-ops-core/.github/workflows/run-task.yml@refs/heads/*"},
		Events:       []string{"workflow_dispatch"},
		Branches:     []string{"*"},
		Repositories: []string{"Sage-Bionetworks/synapse-ops-dev"},
	}
	job := admission.Job{
		EventName: "workflow_dispatch", OwnerName: "sage-bionetworks", RepositoryName: "SYNAPSE-OPS-DEV", WorkflowRunID: 7,
	}
	run := &admission.Run{
		Repository: "Sage-Bionetworks/synapse-ops-dev", HeadRepository: "Sage-Bionetworks/synapse-ops-dev",
		HeadBranch: "try-it", HeadSHA: mainSHA, HeadOnBranch: true, Event: "workflow_dispatch",
		Path: "Sage-Bionetworks/synapse-ops-dev/.github/workflows/migration.yml@refs/heads/try-it",
	}
	for ref, want := range map[string]string{
		"refs/heads/feature":     admission.RuleAdmitted,
		"refs/heads/feature/sub": admission.RuleWorkflows,
		"refs/tags/v1":           admission.RuleWorkflows,
	} {
		job.JobWorkflowRef = "Sage-Bionetworks/synapse-ops-core/.github/workflows/run-task.yml@" + ref
		run.Referenced = []string{job.JobWorkflowRef}
		if v := admission.Decide(dev, job, run, nil); v.Rule != want {
			t.Errorf("%s: rule %q (%s), want %q", ref, v.Rule, v.Reason, want)
		}
	}
	// A workflow of the repository itself is admitted only at the run's own branch.
	dev.Workflows = append(dev.Workflows, "Sage-Bionetworks/synapse-ops-dev/.github/workflows/*.yml@refs/heads/*")
	job.JobWorkflowRef = "Sage-Bionetworks/synapse-ops-dev/.github/workflows/migration.yml@refs/heads/try-it"
	run.Referenced = nil
	if v := admission.Decide(dev, job, run, nil); !v.Allow {
		t.Errorf("own workflow at the run's branch refused: %s %s", v.Rule, v.Reason)
	}
	job.JobWorkflowRef = "Sage-Bionetworks/synapse-ops-dev/.github/workflows/migration.yml@refs/heads/other"
	if v := admission.Decide(dev, job, run, nil); v.Rule != admission.RulePath {
		t.Errorf("own workflow at another branch: rule %q, want %q", v.Rule, admission.RulePath)
	}
}

func TestVerdict_EncodeParse_RoundTripsAndCannotInjectCommands(t *testing.T) {
	// constructs/runnerpool's hook tests feed these exact strings to the hook.
	pinned := map[string]admission.Verdict{
		"verdict=allow\nrule=admitted\nreason=run-task.yml on main\n":                               {Allow: true, Rule: admission.RuleAdmitted, Reason: "run-task.yml on main"},
		"verdict=deny\nrule=admission.branches\nreason=branch \"feature-x\" is not one of [main]\n": {Rule: admission.RuleBranches, Reason: `branch "feature-x" is not one of [main]`},
	}
	for want, v := range pinned {
		if got := v.Encode(); got != want {
			t.Errorf("Encode() = %q, want %q", got, want)
		}
	}
	v := admission.Verdict{Allow: false, Rule: admission.RuleBranches, Reason: "branch \"x\n::add-mask::y\" is not one of [main]"}
	enc := v.Encode()
	if strings.Count(enc, "\n") != 3 || strings.Contains(enc, "::") {
		t.Fatalf("encoded verdict spans extra lines or carries a workflow command:\n%s", enc)
	}
	got, err := admission.Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Allow || got.Rule != v.Rule || !strings.HasPrefix(got.Reason, "branch \"x?  add-mask  y\"") {
		t.Errorf("round trip: %+v", got)
	}
	if allow, _ := admission.Parse(admission.Verdict{Allow: true, Rule: "admitted"}.Encode()); !allow.Allow {
		t.Error("allow did not round-trip")
	}
	for _, bad := range []string{"", "verdict=maybe\n", "allow\n", "verdict=allow\nextra=1\n"} {
		if _, err := admission.Parse(bad); !errors.Is(err, admission.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	long := admission.Verdict{Reason: strings.Repeat("x", 5000)}.Encode()
	if len(long) > admission.MaxEncodedLen || !strings.HasSuffix(long, "\n") {
		t.Errorf("long verdict: %d bytes", len(long))
	}
}
