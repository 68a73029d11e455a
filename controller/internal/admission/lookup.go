package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-github/v88/github"
)

// GitHub is the part of go-github the lookup calls: all reads, so retrying
// them is always safe.
type GitHub interface {
	GetWorkflowRunByID(ctx context.Context, owner, repo string, runID int64) (*github.WorkflowRun, *github.Response, error)
	GetBranch(ctx context.Context, owner, repo, branch string, maxRedirects int) (*github.Branch, *github.Response, error)
	CompareCommits(ctx context.Context, owner, repo, base, head string, opts *github.ListOptions) (*github.CommitsComparison, *github.Response, error)
}

// FromClient adapts a go-github client (its Actions and Repositories services).
func FromClient(c *github.Client) GitHub { return client{c} }

type client struct{ c *github.Client }

func (a client) GetWorkflowRunByID(ctx context.Context, owner, repo string, id int64) (*github.WorkflowRun, *github.Response, error) {
	return a.c.Actions.GetWorkflowRunByID(ctx, owner, repo, id)
}

func (a client) GetBranch(ctx context.Context, owner, repo, branch string, maxRedirects int) (*github.Branch, *github.Response, error) {
	return a.c.Repositories.GetBranch(ctx, owner, repo, branch, maxRedirects)
}

func (a client) CompareCommits(ctx context.Context, owner, repo, base, head string, opts *github.ListOptions) (*github.CommitsComparison, *github.Response, error) {
	return a.c.Repositories.CompareCommits(ctx, owner, repo, base, head, opts)
}

// ErrUnknown wraps every lookup failure: the run could not be established
// within the bounded wait, and Decide refuses the job.
var ErrUnknown = errors.New("admission: workflow run unknown")

// Lookup fetches the facts Decide needs about a job's workflow run.
type Lookup struct {
	GitHub GitHub
	// Base is the first retry delay, doubled per attempt up to Max.
	//
	// Default: 250ms, 4s
	Base, Max time.Duration
	// Sleep waits d or until ctx ends; tests replace it.
	//
	// Default: a timer
	Sleep func(ctx context.Context, d time.Duration) error
}

// Run returns the run of job, or an error wrapping ErrUnknown. It retries
// transport errors, 5xx, rate limits and a 404 of the run (a run GitHub just
// announced may not be readable yet) until ctx ends: the caller bounds ctx by
// the hook's wait (without a deadline it stops after 8 attempts). A 401, 403
// or 422 is final.
func (l Lookup) Run(ctx context.Context, job Job) (*Run, error) {
	wr, err := retry(ctx, l, "get workflow run", true, func(ctx context.Context) (*github.WorkflowRun, *github.Response, error) {
		return l.GitHub.GetWorkflowRunByID(ctx, job.OwnerName, job.RepositoryName, job.WorkflowRunID)
	})
	if err != nil {
		return nil, err
	}
	run := &Run{
		Repository:     wr.GetRepository().GetFullName(),
		HeadRepository: wr.GetHeadRepository().GetFullName(),
		HeadBranch:     wr.GetHeadBranch(),
		HeadSHA:        wr.GetHeadSHA(),
		Event:          wr.GetEvent(),
		Path:           wr.GetPath(),
		URL:            wr.GetHTMLURL(),
	}
	for _, r := range wr.ReferencedWorkflows {
		p, ref := r.GetPath(), r.GetRef()
		if file, short, ok := cutRef(p); ok && ref == "" {
			p, ref = file, short
		} else if ok {
			p = file
		}
		run.Referenced = append(run.Referenced, p+"@"+ref)
	}
	if run.HeadBranch == "" || run.HeadSHA == "" {
		return run, nil
	}
	// head_branch also holds a tag's name: confirm it is a branch and that
	// the run's commit is on it.
	branch, err := retry(ctx, l, "get branch", false, func(ctx context.Context) (*github.Branch, *github.Response, error) {
		return l.GitHub.GetBranch(ctx, job.OwnerName, job.RepositoryName, run.HeadBranch, 0)
	})
	if errors.Is(err, errNotFound) {
		return run, nil // not a branch: HeadOnBranch stays false
	}
	if err != nil {
		return nil, err
	}
	tip := branch.GetCommit().GetSHA()
	if tip == run.HeadSHA {
		run.HeadOnBranch = true
		return run, nil
	}
	cmp, err := retry(ctx, l, "compare commits", false, func(ctx context.Context) (*github.CommitsComparison, *github.Response, error) {
		return l.GitHub.CompareCommits(ctx, job.OwnerName, job.RepositoryName, run.HeadSHA, tip, &github.ListOptions{PerPage: 1})
	})
	if errors.Is(err, errNotFound) {
		return run, nil
	}
	if err != nil {
		return nil, err
	}
	// The tip is ahead of (or equal to) the run's commit and not behind it:
	// the run's commit is an ancestor of the branch.
	s := cmp.GetStatus()
	run.HeadOnBranch = (s == "ahead" || s == "identical") && cmp.GetBehindBy() == 0
	return run, nil
}

func cutRef(p string) (file, ref string, ok bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '@' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

var errNotFound = errors.New("not found")

// unboundedAttempts stops a lookup whose caller forgot a deadline.
const unboundedAttempts = 8

// retry calls fn until it succeeds, fails for good, or ctx ends.
// retry404 treats a 404 as "not yet"; otherwise a 404 is errNotFound.
func retry[T any](ctx context.Context, l Lookup, op string, retry404 bool, fn func(context.Context) (T, *github.Response, error)) (T, error) {
	base, maxDelay, sleep := l.Base, l.Max, l.Sleep
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 4 * time.Second
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	var zero T
	delay := base
	for attempt := 1; ; attempt++ {
		v, resp, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		wait := delay
		var rl *github.RateLimitError
		var abuse *github.AbuseRateLimitError
		switch {
		case ctx.Err() != nil:
			return zero, fmt.Errorf("%w: %s: no answer in time (%d attempts): %w", ErrUnknown, op, attempt, err)
		case errors.As(err, &rl):
			wait = time.Until(rl.Rate.Reset.Time)
		case errors.As(err, &abuse):
			if abuse.RetryAfter != nil {
				wait = *abuse.RetryAfter
			}
		case status == http.StatusNotFound && !retry404:
			return zero, errNotFound
		case status == http.StatusNotFound, status == http.StatusTooManyRequests, status >= 500, status == 0:
			// 0: no response at all (connection refused, reset, timeout).
		default:
			return zero, fmt.Errorf("%w: %s: %w", ErrUnknown, op, err)
		}
		dl, bounded := ctx.Deadline()
		if !bounded && attempt >= unboundedAttempts {
			return zero, fmt.Errorf("%w: %s: %d attempts: %w", ErrUnknown, op, attempt, err)
		}
		if bounded && time.Until(dl) < wait {
			return zero, fmt.Errorf("%w: %s: retry in %s would pass the deadline (%d attempts): %w", ErrUnknown, op, wait.Round(time.Second), attempt, err)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return zero, fmt.Errorf("%w: %s: no answer in time (%d attempts): %w", ErrUnknown, op, attempt, err)
		}
		delay = min(delay*2, maxDelay)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
