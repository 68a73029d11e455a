// Package admission decides whether a job may run on an environment's runners.
//
// The decision is a pure function of data GitHub produced: the scale set's job
// message (which workflow file defines the job, the event, the repository, the
// run id) and the workflow run fetched through the REST API (the caller's
// branch and commit, the event, the caller's workflow file and the repository
// the head commit came from). Nothing the job itself controls is consulted, so
// a job cannot talk its way in. Effects (writing the verdict, removing a
// refused instance) belong to the controller.
package admission

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Policy is the admission of one pool (config.AdmissionPolicy, as the
// controller receives it). An entry holding * matches like path.Match.
type Policy struct {
	Workflows    []string `json:"workflows"`
	Events       []string `json:"events"`
	Branches     []string `json:"branches"`
	Repositories []string `json:"repositories"`
}

// Job is what the scale set's job message says about the job.
type Job struct {
	// JobWorkflowRef is the workflow file that defines the job, with its ref:
	// owner/repo/.github/workflows/file.yml@refs/heads/main. For a job of a
	// reusable workflow it is the called workflow.
	JobWorkflowRef string
	// EventName is the event that started the run.
	EventName string
	// OwnerName and RepositoryName name the repository of the run.
	OwnerName, RepositoryName string
	// WorkflowRunID is the run the job belongs to.
	WorkflowRunID int64
}

// Repository is owner/name.
func (j Job) Repository() string { return j.OwnerName + "/" + j.RepositoryName }

// Run is what the REST API says about the workflow run (see Lookup).
type Run struct {
	// Repository is the run's repository (full name).
	Repository string
	// HeadRepository is where the head commit came from; another repository
	// than Repository means a fork.
	HeadRepository string
	// HeadBranch is the caller's branch (or, for a tag, the tag's name).
	HeadBranch string
	// HeadSHA is the commit the caller's workflow was read from.
	HeadSHA string
	// HeadOnBranch says GitHub confirmed that HeadBranch is a branch and that
	// HeadSHA is on it, so a tag or a commit merely named like an admitted
	// branch does not pass for it.
	HeadOnBranch bool
	// Event is the event that started the run.
	Event string
	// Path is the caller's workflow file (.github/workflows/x.yml, possibly
	// given as owner/repo/.github/workflows/x.yml@ref).
	Path string
	// Referenced are the reusable workflows the run calls, as
	// owner/repo/path@ref (ref in full form when GitHub gives it).
	Referenced []string
	// URL is the run's page, for logs.
	URL string
}

// Rules, in the order they are checked. The first that refuses names the
// verdict; the runner's hook prints it.
const (
	RuleRepositories = "admission.repositories"
	RuleWorkflows    = "admission.workflows"
	RuleEvents       = "admission.events"
	RuleLookup       = "run.lookup" // the run could not be fetched in time: unknown is a deny
	RuleRepository   = "run.repository"
	RuleFork         = "run.headRepository"
	RuleRunEvent     = "run.event"
	RuleBranches     = "admission.branches"
	RuleHeadOnBranch = "run.headSha"
	RulePath         = "run.path"
	RuleAdmitted     = "admitted"
)

// Decide returns the verdict for job under policy. run is nil when the lookup
// failed (lookupErr says why): the job is then refused, since admitting what
// could not be checked would let an outage open the fleet.
func Decide(policy Policy, job Job, run *Run, lookupErr error) Verdict {
	deny := func(rule, format string, args ...any) Verdict {
		return Verdict{Allow: false, Rule: rule, Reason: fmt.Sprintf(format, args...)}
	}
	repo := job.Repository()
	if job.OwnerName == "" || job.RepositoryName == "" || !matchAny(policy.Repositories, repo, matchRepository) {
		return deny(RuleRepositories, "repository %q is not one of %v", repo, policy.Repositories)
	}
	if !matchAny(policy.Workflows, job.JobWorkflowRef, matchWorkflow) {
		return deny(RuleWorkflows, "workflow %q is not one of %v", job.JobWorkflowRef, policy.Workflows)
	}
	if !matchAny(policy.Events, job.EventName, matchExact) {
		return deny(RuleEvents, "event %q is not one of %v", job.EventName, policy.Events)
	}
	if run == nil {
		reason := "no answer"
		if lookupErr != nil {
			reason = lookupErr.Error()
		}
		return deny(RuleLookup, "workflow run %d could not be checked: %s", job.WorkflowRunID, reason)
	}
	if !strings.EqualFold(run.Repository, repo) {
		return deny(RuleRepository, "workflow run %d belongs to %q, not to %q", job.WorkflowRunID, run.Repository, repo)
	}
	if run.HeadRepository == "" || !strings.EqualFold(run.HeadRepository, run.Repository) {
		return deny(RuleFork, "the run's commit comes from %q, not from %q (a fork)", run.HeadRepository, run.Repository)
	}
	if run.Event != job.EventName {
		return deny(RuleRunEvent, "the run's event %q differs from the job's %q", run.Event, job.EventName)
	}
	if !matchAny(policy.Branches, run.HeadBranch, matchExact) {
		return deny(RuleBranches, "branch %q is not one of %v", run.HeadBranch, policy.Branches)
	}
	if !run.HeadOnBranch {
		return deny(RuleHeadOnBranch, "commit %s is not on branch %q (a tag or another ref with that name)", run.HeadSHA, run.HeadBranch)
	}
	if !jobBelongsToRun(job, run) {
		return deny(RulePath, "the job's workflow %q is neither the run's workflow %q nor one it calls", job.JobWorkflowRef, run.Path)
	}
	return Verdict{Allow: true, Rule: RuleAdmitted, Reason: fmt.Sprintf("%s on %s of %s by %s", job.JobWorkflowRef, run.HeadBranch, repo, job.EventName)}
}

// jobBelongsToRun reports whether the job's workflow is the run's own
// workflow file at the run's branch, or a reusable workflow the run calls.
func jobBelongsToRun(job Job, run *Run) bool {
	file, ref, ok := strings.Cut(job.JobWorkflowRef, "@")
	if !ok {
		return false
	}
	own := callerPath(run.Path, run.Repository)
	if own == "" {
		return false
	}
	if sameFile(file, run.Repository+"/"+own) && ref == "refs/heads/"+run.HeadBranch {
		return true
	}
	for _, r := range run.Referenced {
		rfile, rref, ok := strings.Cut(r, "@")
		if ok && sameFile(file, rfile) && (rref == ref || "refs/heads/"+rref == ref) {
			return true
		}
	}
	return false
}

// callerPath reduces the run's path to .github/workflows/<file>, or "" when
// it is anything else (a dynamic workflow, a path outside the workflows
// directory, one with ..).
func callerPath(p, repo string) string {
	p, _, _ = strings.Cut(p, "@")
	if len(p) > len(repo)+1 && strings.EqualFold(p[:len(repo)+1], repo+"/") {
		p = p[len(repo)+1:]
	}
	if !strings.HasPrefix(p, ".github/workflows/") || strings.Contains(p, "..") || strings.Count(p, "/") != 2 {
		return ""
	}
	return p
}

// sameFile compares owner/repo/path: GitHub's owner and repository names are
// case-insensitive, paths are not.
func sameFile(a, b string) bool {
	ra, pa := splitRepo(a)
	rb, pb := splitRepo(b)
	return ra != "" && strings.EqualFold(ra, rb) && pa == pb
}

func splitRepo(s string) (repo, rest string) {
	owner, tail, ok := strings.Cut(s, "/")
	if !ok {
		return "", ""
	}
	name, rest, ok := strings.Cut(tail, "/")
	if !ok {
		return "", ""
	}
	return owner + "/" + name, rest
}

func matchAny(patterns []string, value string, match func(pattern, value string) bool) bool {
	return value != "" && slices.ContainsFunc(patterns, func(p string) bool { return match(p, value) })
}

func matchExact(pattern, value string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == value
	}
	ok, err := path.Match(pattern, value)
	return err == nil && ok
}

func matchRepository(pattern, value string) bool {
	return matchExact(strings.ToLower(pattern), strings.ToLower(value))
}

// matchWorkflow matches owner/repo case-insensitively and the file and ref exactly.
func matchWorkflow(pattern, value string) bool {
	pr, prest := splitRepo(pattern)
	vr, vrest := splitRepo(value)
	return pr != "" && vr != "" && matchRepository(pr, vr) && matchExact(prest, vrest)
}
