package config

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Admission says which jobs may run on an environment's runners. The fleet
// controller checks every job against it, from data GitHub produced (the scale
// set's job message and the workflow run), before any step of the job runs; a
// refused job never runs a step and its instance is removed. Every list must
// name at least one entry: an empty list admits nothing, so it is refused as a
// mistake rather than deployed as a fleet that runs no job.
//
// Matching is exact. Outside prod an entry may hold * wildcards (path.Match
// rules: * never crosses a /), and an environment that uses one must say why in
// Note; prod refuses wildcards.
type Admission struct {
	// Workflows are the allowed job_workflow_ref values: the workflow file that
	// defines the job, with the full ref it was taken from, for example
	// Sage-Bionetworks/synapse-ops-core/.github/workflows/run-task.yml@refs/heads/main.
	// For a job of a reusable workflow this is the called workflow, not the caller.
	//
	// Default: none (required)
	Workflows []string `json:"workflows"`

	// Events are the events that may start an admitted run, for example
	// workflow_dispatch and schedule. Prod accepts only those two.
	//
	// Default: none (required)
	Events []string `json:"events"`

	// Branches are the caller's branches (the run's head_branch, a short name
	// such as main, never refs/heads/main) an admitted run may come from.
	//
	// Default: none (required)
	Branches []string `json:"branches"`

	// Repositories are the repositories ("owner/name") whose runs may use the
	// runners. A run from a fork of one of them is always refused.
	//
	// Default: none (required)
	Repositories []string `json:"repositories"`

	// WaitSeconds is how long the runner's job-started hook waits for the
	// controller's verdict before it fails the job. It also bounds the
	// controller's lookup of the workflow run.
	//
	// Default: 60
	WaitSeconds int `json:"waitSeconds,omitempty"`

	// Note explains, in the committed file, why an environment admits more than
	// exact entries (required when an entry holds a wildcard).
	//
	// Default: none
	Note string `json:"note,omitempty"`
}

// PoolAdmission overrides parts of the environment's admission for one pool.
// A list that is set replaces the environment's list (it is not merged), so a
// pool can only be made narrower or wider on purpose, in one visible place.
type PoolAdmission struct {
	// Workflows replaces admission.workflows for this pool.
	//
	// Default: the environment's list
	Workflows []string `json:"workflows,omitempty"`
	// Events replaces admission.events for this pool.
	//
	// Default: the environment's list
	Events []string `json:"events,omitempty"`
	// Branches replaces admission.branches for this pool.
	//
	// Default: the environment's list
	Branches []string `json:"branches,omitempty"`
	// Repositories replaces admission.repositories for this pool.
	//
	// Default: the environment's list
	Repositories []string `json:"repositories,omitempty"`
}

// Admission defaults and limits.
const (
	DefaultAdmissionWaitSeconds = 60
	MinAdmissionWaitSeconds     = 10
	MaxAdmissionWaitSeconds     = 600
)

// ProdAdmissionEvents are the only events a prod environment admits.
var ProdAdmissionEvents = []string{"schedule", "workflow_dispatch"}

// knownEvents are GitHub's workflow trigger events; anything else is a typo
// that would silently admit nothing.
var knownEvents = []string{
	"branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment",
	"deployment_status", "discussion", "discussion_comment", "fork", "gollum", "issue_comment",
	"issues", "label", "merge_group", "milestone", "page_build", "public", "pull_request",
	"pull_request_review", "pull_request_review_comment", "pull_request_target", "push",
	"registry_package", "release", "repository_dispatch", "schedule", "status", "watch",
	"workflow_call", "workflow_dispatch", "workflow_run",
}

var (
	// owner/repo/.github/workflows/<file>.yml@refs/(heads|tags)/<name>
	workflowRefPattern = regexp.MustCompile(`^[A-Za-z0-9*][A-Za-z0-9*-]{0,38}/[A-Za-z0-9._*-]{1,100}/\.github/workflows/[A-Za-z0-9._*-]+\.ya?ml@refs/(heads|tags)/[A-Za-z0-9._/*-]+$`)
	branchPattern      = regexp.MustCompile(`^[A-Za-z0-9._*-][A-Za-z0-9._/*-]{0,254}$`)
	repoGlobPattern    = regexp.MustCompile(`^[A-Za-z0-9*][A-Za-z0-9*-]{0,38}/[A-Za-z0-9._*-]{1,100}$`)
)

// AdmissionPolicy is the admission that applies to one pool: the
// environment's lists with the pool's overrides.
type AdmissionPolicy struct {
	Workflows, Events, Branches, Repositories []string
	WaitSeconds                               int
}

// AdmissionFor returns the policy of pool p (defaults applied).
func (e Environment) AdmissionFor(p Pool) AdmissionPolicy {
	a := e.Admission
	out := AdmissionPolicy{
		Workflows: slices.Clone(a.Workflows), Events: slices.Clone(a.Events),
		Branches: slices.Clone(a.Branches), Repositories: slices.Clone(a.Repositories),
		WaitSeconds: a.WaitSeconds,
	}
	if out.WaitSeconds == 0 {
		out.WaitSeconds = DefaultAdmissionWaitSeconds
	}
	if o := p.Admission; o != nil {
		if o.Workflows != nil {
			out.Workflows = slices.Clone(o.Workflows)
		}
		if o.Events != nil {
			out.Events = slices.Clone(o.Events)
		}
		if o.Branches != nil {
			out.Branches = slices.Clone(o.Branches)
		}
		if o.Repositories != nil {
			out.Repositories = slices.Clone(o.Repositories)
		}
	}
	return out
}

// AdmissionParameterPrefix is the SSM path under which the controller writes
// each instance's admission verdict (one String parameter per instance id,
// readable only by that instance, like its JIT config).
func (e Environment) AdmissionParameterPrefix() string {
	return "/synapse-ops-runners/" + e.Name + "/admission/"
}

func (a Admission) withDefaults() Admission {
	out := a
	out.Workflows = slices.Clone(a.Workflows)
	out.Events = slices.Clone(a.Events)
	out.Branches = slices.Clone(a.Branches)
	out.Repositories = slices.Clone(a.Repositories)
	if out.WaitSeconds == 0 {
		out.WaitSeconds = DefaultAdmissionWaitSeconds
	}
	return out
}

func (o *PoolAdmission) clone() *PoolAdmission {
	if o == nil {
		return nil
	}
	return &PoolAdmission{
		Workflows: slices.Clone(o.Workflows), Events: slices.Clone(o.Events),
		Branches: slices.Clone(o.Branches), Repositories: slices.Clone(o.Repositories),
	}
}

func (e Environment) validateAdmission(p *problems) {
	a := e.Admission
	prod := e.Name == "prod"
	wild := a.check(p, "admission", prod, true)
	if a.WaitSeconds < MinAdmissionWaitSeconds || a.WaitSeconds > MaxAdmissionWaitSeconds {
		p.add("admission.waitSeconds", "%d is outside %d..%d seconds; remove the field for the default %d",
			a.WaitSeconds, MinAdmissionWaitSeconds, MaxAdmissionWaitSeconds, DefaultAdmissionWaitSeconds)
	}
	for i, pool := range e.Pools {
		if o := pool.Admission; o != nil {
			sub := Admission{Workflows: o.Workflows, Events: o.Events, Branches: o.Branches, Repositories: o.Repositories}
			if sub.check(p, fmt.Sprintf("pools[%d].admission", i), prod, false) {
				wild = true
			}
		}
	}
	// In prod the wildcard itself is the error: asking for a note would suggest one fixes it.
	if wild && !prod && strings.TrimSpace(a.Note) == "" {
		p.add("admission.note", "missing; an admission entry holds a wildcard, so say in admission.note why this environment admits more than exact entries")
	}
}

// check validates each list of a; required says an absent list is an error
// (the environment's lists) rather than "inherit" (a pool's). It reports
// whether any entry holds a wildcard.
func (a Admission) check(p *problems, field string, prod, required bool) (wild bool) {
	list := func(name string, values []string, valid func(string) bool, form string) {
		f := field + "." + name
		if required && len(values) == 0 {
			p.add(f, "missing; list at least one entry (%s): an empty list admits no job", form)
		}
		if !required && values != nil && len(values) == 0 {
			p.add(f, "empty; an empty list admits no job; list entries (%s) or remove the field to use the environment's", form)
		}
		seen := map[string]bool{}
		for i, v := range values {
			fi := fmt.Sprintf("%s[%d]", f, i)
			hasWild := strings.Contains(v, "*")
			switch {
			case strings.ContainsAny(v, "?[]\\"):
				p.add(fi, "%q holds a pattern character; only * is a wildcard: use %s", v, form)
			case hasWild && prod:
				p.add(fi, "%q contains a wildcard; prod admits exact entries only: use %s", v, form)
			case !valid(v):
				p.add(fi, "%q is not well-formed; use %s", v, form)
			case seen[v]:
				p.add(fi, "%q is listed twice; list each entry once", v)
			}
			if hasWild {
				wild = true
			}
			seen[v] = true
		}
	}
	list("workflows", a.Workflows, func(s string) bool {
		return workflowRefPattern.MatchString(s) && validGlob(s)
	}, "owner/repository/.github/workflows/<file>.yml@refs/heads/<branch>")
	list("events", a.Events, func(s string) bool {
		return slices.Contains(knownEvents, s)
	}, "a GitHub event name such as workflow_dispatch or schedule")
	list("branches", a.Branches, func(s string) bool {
		return branchPattern.MatchString(s) && !strings.HasPrefix(s, "refs/") && !strings.Contains(s, "..") && validGlob(s)
	}, "the short branch name the run's head_branch holds, such as main (not refs/heads/main)")
	list("repositories", a.Repositories, func(s string) bool {
		return repoGlobPattern.MatchString(s) && validGlob(s)
	}, "owner/name, such as Sage-Bionetworks/synapse-ops-prod")
	if prod {
		for i, ev := range a.Events {
			if slices.Contains(knownEvents, ev) && !slices.Contains(ProdAdmissionEvents, ev) {
				p.add(fmt.Sprintf("%s.events[%d]", field, i), "%q is not admitted in prod; prod runs only %v: a job must be dispatched or scheduled from reviewed code", ev, ProdAdmissionEvents)
			}
		}
	}
	return wild
}

func validGlob(s string) bool {
	_, err := path.Match(s, "")
	return err == nil
}
