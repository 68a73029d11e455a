package admission_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v88/github"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/internal/admission"
)

// fakeGitHub is a loopback REST API for one repository, as strict as GitHub on
// the three reads the lookup makes: unknown paths are 404, and each route can
// be told to fail a number of times first.
type fakeGitHub struct {
	mu       sync.Mutex
	run      string            // workflow run JSON
	branches map[string]string // branch -> tip SHA
	compare  map[string]string // "base...head" -> status
	fail     map[string][]int  // route prefix -> statuses to answer first, in order
	calls    map[string]int
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	route := ""
	switch {
	case strings.HasPrefix(p, "/repos/o/r/actions/runs/"):
		route = "run"
	case strings.HasPrefix(p, "/repos/o/r/branches/"):
		route = "branch"
	case strings.HasPrefix(p, "/repos/o/r/compare/"):
		route = "compare"
	}
	f.calls[route]++
	if q := f.fail[route]; len(q) > 0 {
		f.fail[route] = q[1:]
		w.WriteHeader(q[0])
		fmt.Fprint(w, `{"message":"injected"}`)
		return
	}
	switch route {
	case "run":
		if f.run == "" || !strings.HasSuffix(p, "/42") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, f.run)
	case "branch":
		sha, ok := f.branches[strings.TrimPrefix(p, "/repos/o/r/branches/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"name":"x","commit":{"sha":%q}}`, sha)
	case "compare":
		st, ok := f.compare[strings.TrimPrefix(p, "/repos/o/r/compare/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		behind := 0
		if st == "behind" || st == "diverged" {
			behind = 1
		}
		fmt.Fprintf(w, `{"status":%q,"behind_by":%d}`, st, behind)
	default:
		http.NotFound(w, r)
	}
}

const runJSON = `{"id":42,"head_branch":"main","head_sha":"%s","event":"workflow_dispatch",
 "path":".github/workflows/remove-user.yml","html_url":"https://github.com/o/r/actions/runs/42",
 "repository":{"full_name":"o/r"},"head_repository":{"full_name":"%s"},
 "referenced_workflows":[{"path":"o/core/.github/workflows/run-task.yml@main","sha":"abc","ref":"refs/heads/main"}]}`

func newFake(t *testing.T, headSHA, headRepo string) (*fakeGitHub, admission.Lookup) {
	f := &fakeGitHub{
		run:      fmt.Sprintf(runJSON, headSHA, headRepo),
		branches: map[string]string{"main": "tip"},
		compare:  map[string]string{},
		fail:     map[string][]int{},
		calls:    map[string]int{},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	base := srv.URL + "/api/v3/"
	c, err := github.NewClient(github.WithHTTPClient(srv.Client()), github.WithURLs(&base, &base), github.WithDisableRateLimitCheck())
	if err != nil {
		t.Fatal(err)
	}
	// Retries run without waiting; each attempt still goes through HTTP.
	l := admission.Lookup{GitHub: admission.FromClient(c), Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
	return f, l
}

var job = admission.Job{JobWorkflowRef: "o/core/.github/workflows/run-task.yml@refs/heads/main", EventName: "workflow_dispatch", OwnerName: "o", RepositoryName: "r", WorkflowRunID: 42}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLookup_GivenRunOnMain_ThenFactsFromGitHub(t *testing.T) {
	f, l := newFake(t, "old", "o/r")
	f.compare["old...tip"] = "ahead"
	run, err := l.Run(bounded(t), job)
	if err != nil {
		t.Fatal(err)
	}
	want := admission.Run{
		Repository: "o/r", HeadRepository: "o/r", HeadBranch: "main", HeadSHA: "old", HeadOnBranch: true,
		Event: "workflow_dispatch", Path: ".github/workflows/remove-user.yml",
		Referenced: []string{"o/core/.github/workflows/run-task.yml@refs/heads/main"},
		URL:        "https://github.com/o/r/actions/runs/42",
	}
	if fmt.Sprint(*run) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", *run, want)
	}
	policy := admission.Policy{Workflows: []string{job.JobWorkflowRef}, Events: []string{"workflow_dispatch"}, Branches: []string{"main"}, Repositories: []string{"o/r"}}
	if v := admission.Decide(policy, job, run, nil); !v.Allow {
		t.Errorf("refused: %s %s", v.Rule, v.Reason)
	}
}

func TestLookup_GivenCommitNotOnBranch_ThenNotOnBranch(t *testing.T) {
	for _, st := range []string{"behind", "diverged"} {
		f, l := newFake(t, "elsewhere", "o/r")
		f.compare["elsewhere...tip"] = st
		run, err := l.Run(bounded(t), job)
		if err != nil || run.HeadOnBranch {
			t.Errorf("%s: run %+v, err %v; want not on branch", st, run, err)
		}
	}
	// head_branch names a tag: there is no such branch.
	f, l := newFake(t, "tagged", "o/r")
	delete(f.branches, "main")
	if run, err := l.Run(bounded(t), job); err != nil || run.HeadOnBranch {
		t.Errorf("tag: run %+v, err %v; want not on branch", run, err)
	}
}

func TestLookup_GivenTransientFailures_ThenRetriedAndAnswered(t *testing.T) {
	f, l := newFake(t, "tip", "o/r")
	// A new run may 404 for a moment; 5xx and secondary rate limits pass.
	f.fail["run"] = []int{404, 502, 503, 429}
	f.fail["branch"] = []int{500}
	run, err := l.Run(bounded(t), job)
	if err != nil || !run.HeadOnBranch {
		t.Fatalf("run %+v, err %v", run, err)
	}
	if f.calls["run"] != 5 || f.calls["branch"] != 2 || f.calls["compare"] != 0 {
		t.Errorf("calls %v, want run 5, branch 2, compare 0 (tip equals the run's commit)", f.calls)
	}
}

func TestLookup_GivenFinalErrors_ThenUnknownWithoutRetry(t *testing.T) {
	for _, status := range []int{401, 403, 422} {
		f, l := newFake(t, "tip", "o/r")
		f.fail["run"] = []int{status, status, status}
		_, err := l.Run(bounded(t), job)
		if !errors.Is(err, admission.ErrUnknown) {
			t.Errorf("%d: err %v, want ErrUnknown", status, err)
		}
		if f.calls["run"] != 1 {
			t.Errorf("%d: %d calls, want 1 (not retried)", status, f.calls["run"])
		}
	}
}

func TestLookup_GivenOutageUntilDeadline_ThenUnknownAndRefused(t *testing.T) {
	f, l := newFake(t, "tip", "o/r")
	for range 1000 {
		f.fail["run"] = append(f.fail["run"], 503)
	}
	l.Sleep = nil // real (short) sleeps against a real deadline
	l.Base, l.Max = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	run, err := l.Run(ctx, job)
	if run != nil || !errors.Is(err, admission.ErrUnknown) {
		t.Fatalf("run %v, err %v; want unknown", run, err)
	}
	if f.calls["run"] < 2 {
		t.Errorf("%d calls; the lookup should retry until the deadline", f.calls["run"])
	}
	v := admission.Decide(admission.Policy{Workflows: []string{job.JobWorkflowRef}, Events: []string{"workflow_dispatch"}, Branches: []string{"main"}, Repositories: []string{"o/r"}}, job, run, err)
	if v.Allow || v.Rule != admission.RuleLookup {
		t.Errorf("verdict %+v, want a deny by %s", v, admission.RuleLookup)
	}
}

func TestLookup_GivenNoDeadline_ThenBoundedAttempts(t *testing.T) {
	f, l := newFake(t, "tip", "o/r")
	for range 100 {
		f.fail["run"] = append(f.fail["run"], 500)
	}
	if _, err := l.Run(context.Background(), job); !errors.Is(err, admission.ErrUnknown) {
		t.Fatalf("err %v", err)
	}
	if f.calls["run"] != 8 {
		t.Errorf("%d calls, want 8", f.calls["run"])
	}
}

func TestLookup_GivenForkRun_ThenDecideRefusesIt(t *testing.T) {
	_, l := newFake(t, "tip", "mallory/r")
	run, err := l.Run(bounded(t), job)
	if err != nil {
		t.Fatal(err)
	}
	v := admission.Decide(admission.Policy{Workflows: []string{job.JobWorkflowRef}, Events: []string{"workflow_dispatch"}, Branches: []string{"main"}, Repositories: []string{"o/r"}}, job, run, nil)
	if v.Allow || v.Rule != admission.RuleFork {
		t.Errorf("verdict %+v, want a deny by %s", v, admission.RuleFork)
	}
}
