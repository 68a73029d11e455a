package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actions/scaleset"
	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v88/github"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/Sage-Bionetworks/synapse-ops-runners/githubcred"
)

// ConnectOptions tune the real GitHub clients.
type ConnectOptions struct {
	// GitHubURL is the repository URL (https://github.com/owner/repo).
	GitHubURL string
	// Transport is the base HTTP transport; default http.DefaultTransport.
	Transport http.RoundTripper
	// OnRateLimit receives X-RateLimit-Remaining from every GitHub API answer.
	OnRateLimit func(remaining int)
}

// systemInfo identifies the controller in the scale set service's user agent.
var systemInfo = scaleset.SystemInfo{System: "synapse-ops-runners", Version: "1", Subsystem: "fleet-controller"}

// NewConnection builds the scale set client (with scaleset's own App or PAT
// auth, which renews its tokens before they expire) and the REST client for the
// runner list (ghinstallation for an App, which does the same).
func NewConnection(cred githubcred.Credential, opt ConnectOptions) (*Connection, error) {
	u, err := url.Parse(opt.GitHubURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("github: bad repository URL %q", opt.GitHubURL)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 {
		return nil, fmt.Errorf("github: %q is not a repository URL", opt.GitHubURL)
	}
	owner, repo := parts[0], parts[1]
	base := opt.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	capture := &responseCapture{onRate: opt.OnRateLimit}

	var client *scaleset.Client
	var restTransport http.RoundTripper
	switch cred.Kind {
	case githubcred.KindApp:
		client, err = scaleset.NewClientWithGitHubApp(scaleset.ClientWithGitHubAppConfig{
			GitHubConfigURL: opt.GitHubURL,
			GitHubAppAuth: scaleset.GitHubAppAuth{
				ClientID:       strconv.FormatInt(cred.AppID, 10),
				InstallationID: cred.InstallationID,
				PrivateKey:     string(cred.PrivateKey),
			},
			SystemInfo: systemInfo,
		}, scaleset.WithRetryableHTTPClint(singleAttemptClient(base, capture)))
		if err != nil {
			return nil, fmt.Errorf("github: scale set client: %w", err)
		}
		it, err := ghinstallation.New(base, cred.AppID, cred.InstallationID, cred.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github: app transport: %w", err)
		}
		if !isGitHubDotCom(u) {
			it.BaseURL = u.Scheme + "://" + u.Host + "/api/v3"
		}
		restTransport = it
	case githubcred.KindPAT:
		client, err = scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
			GitHubConfigURL:     opt.GitHubURL,
			PersonalAccessToken: cred.Token,
			SystemInfo:          systemInfo,
		}, scaleset.WithRetryableHTTPClint(singleAttemptClient(base, capture)))
		if err != nil {
			return nil, fmt.Errorf("github: scale set client: %w", err)
		}
		restTransport = base
	default:
		return nil, fmt.Errorf("github: unknown credential kind %q", cred.Kind)
	}

	gopts := []github.ClientOptionsFunc{github.WithHTTPClient(&http.Client{Transport: restTransport, Timeout: time.Minute})}
	if cred.Kind == githubcred.KindPAT {
		gopts = append(gopts, github.WithAuthToken(cred.Token))
	}
	if !isGitHubDotCom(u) {
		api := u.Scheme + "://" + u.Host + "/api/v3/"
		gopts = append(gopts, github.WithEnterpriseURLs(api, api))
	}
	rest, err := github.NewClient(gopts...)
	if err != nil {
		return nil, fmt.Errorf("github: REST client: %w", err)
	}
	adapter := &scaleSetAdapter{c: client, capture: capture}
	host, _ := os.Hostname()
	if host == "" {
		host = "fleet-controller"
	}
	return &Connection{
		API:    adapter,
		Lister: &restLister{c: rest, owner: owner, repo: repo, onRate: opt.OnRateLimit},
		OpenSession: func(ctx context.Context, scaleSetID int) (Session, error) {
			sessionCapture := &responseCapture{onRate: opt.OnRateLimit}
			// The session gets its own HTTP client so its long polls never
			// disturb the capture of the adapter's serialised calls.
			s, err := client.MessageSessionClient(ctx, scaleSetID, host,
				scaleset.WithRetryableHTTPClint(singleAttemptClient(base, sessionCapture)))
			if err != nil {
				return nil, wrapScaleSetError("create-session", err, sessionCapture.take())
			}
			return &sessionAdapter{s: s, capture: sessionCapture}, nil
		},
	}, nil
}

func isGitHubDotCom(u *url.URL) bool {
	h := strings.ToLower(u.Host)
	return h == "github.com" || h == "www.github.com" || strings.HasSuffix(h, ".ghe.com")
}

// singleAttemptClient is the HTTP client handed to scaleset: it never retries
// by itself (the controller's Backoff does, once, with its classification) and
// records Retry-After and rate-limit headers, which scaleset's errors drop.
func singleAttemptClient(base http.RoundTripper, capture *responseCapture) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.RetryMax = 0
	rc.Logger = nil
	rc.CheckRetry = func(ctx context.Context, _ *http.Response, _ error) (bool, error) {
		return false, ctx.Err()
	}
	if t, ok := base.(*http.Transport); ok {
		rc.HTTPClient.Transport = t.Clone()
	}
	rc.ResponseLogHook = capture.hook
	return rc
}

// response is what the hook saw of the last failed answer.
type response struct {
	status     int
	retryAfter time.Duration
}

// responseCapture remembers the last failed response's status and Retry-After.
// The adapter holds its lock for a whole call, and scaleset serialises its
// calls too, so the captured value belongs to the call that just returned.
type responseCapture struct {
	mu     sync.Mutex
	last   response
	onRate func(int)
}

func (r *responseCapture) hook(_ retryablehttp.Logger, resp *http.Response) {
	if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" && r.onRate != nil {
		if n, err := strconv.Atoi(v); err == nil {
			r.onRate(n)
		}
	}
	if resp.StatusCode >= 400 {
		ra := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if ra == 0 && resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				ra = time.Until(time.Unix(reset, 0))
			}
		}
		r.mu.Lock()
		r.last = response{status: resp.StatusCode, retryAfter: ra}
		r.mu.Unlock()
	}
}

func (r *responseCapture) take() response {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.last
	r.last = response{}
	return last
}

type scaleSetAdapter struct {
	mu      sync.Mutex
	c       *scaleset.Client
	capture *responseCapture
}

func adapt[T any](a *scaleSetAdapter, op string, call func() (T, error)) (T, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.capture.take()
	v, err := call()
	return v, wrapScaleSetError(op, err, a.capture.take())
}

func (a *scaleSetAdapter) GetRunnerGroupByName(ctx context.Context, name string) (*scaleset.RunnerGroup, error) {
	return adapt(a, "get-runner-group", func() (*scaleset.RunnerGroup, error) { return a.c.GetRunnerGroupByName(ctx, url.QueryEscape(name)) })
}

func (a *scaleSetAdapter) GetRunnerScaleSet(ctx context.Context, groupID int, name string) (*scaleset.RunnerScaleSet, error) {
	return adapt(a, "get-scale-set", func() (*scaleset.RunnerScaleSet, error) {
		return a.c.GetRunnerScaleSet(ctx, groupID, url.QueryEscape(name))
	})
}

func (a *scaleSetAdapter) CreateRunnerScaleSet(ctx context.Context, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	return adapt(a, "create-scale-set", func() (*scaleset.RunnerScaleSet, error) { return a.c.CreateRunnerScaleSet(ctx, s) })
}

func (a *scaleSetAdapter) UpdateRunnerScaleSet(ctx context.Context, id int, s *scaleset.RunnerScaleSet) (*scaleset.RunnerScaleSet, error) {
	return adapt(a, "update-scale-set", func() (*scaleset.RunnerScaleSet, error) { return a.c.UpdateRunnerScaleSet(ctx, id, s) })
}

func (a *scaleSetAdapter) GenerateJitRunnerConfig(ctx context.Context, s *scaleset.RunnerScaleSetJitRunnerSetting, id int) (*scaleset.RunnerScaleSetJitRunnerConfig, error) {
	return adapt(a, "generate-jit-config", func() (*scaleset.RunnerScaleSetJitRunnerConfig, error) {
		return a.c.GenerateJitRunnerConfig(ctx, s, id)
	})
}

func (a *scaleSetAdapter) GetRunnerByName(ctx context.Context, name string) (*scaleset.RunnerReference, error) {
	return adapt(a, "get-runner", func() (*scaleset.RunnerReference, error) { return a.c.GetRunnerByName(ctx, url.QueryEscape(name)) })
}

func (a *scaleSetAdapter) RemoveRunner(ctx context.Context, id int64) error {
	_, err := adapt(a, "remove-runner", func() (struct{}, error) { return struct{}{}, a.c.RemoveRunner(ctx, id) })
	return err
}

// sessionAdapter classifies the session's errors like every other GitHub call.
// The listener calls it from one goroutine; mu keeps the capture honest anyway.
type sessionAdapter struct {
	mu      sync.Mutex
	s       *scaleset.MessageSessionClient
	capture *responseCapture
}

func sessionCall[T any](s *sessionAdapter, op string, call func() (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capture.take()
	v, err := call()
	return v, wrapScaleSetError(op, err, s.capture.take())
}

func (s *sessionAdapter) GetMessage(ctx context.Context, last, capacity int) (*scaleset.RunnerScaleSetMessage, error) {
	return sessionCall(s, "get-message", func() (*scaleset.RunnerScaleSetMessage, error) { return s.s.GetMessage(ctx, last, capacity) })
}

func (s *sessionAdapter) DeleteMessage(ctx context.Context, id int) error {
	_, err := sessionCall(s, "delete-message", func() (struct{}, error) { return struct{}{}, s.s.DeleteMessage(ctx, id) })
	return err
}

func (s *sessionAdapter) AcquireJobs(ctx context.Context, ids []int64) ([]int64, error) {
	return sessionCall(s, "acquire-jobs", func() ([]int64, error) { return s.s.AcquireJobs(ctx, ids) })
}

func (s *sessionAdapter) Session() scaleset.RunnerScaleSetSession { return s.s.Session() }

func (s *sessionAdapter) Close(ctx context.Context) error {
	_, err := sessionCall(s, "delete-session", func() (struct{}, error) { return struct{}{}, s.s.Close(ctx) })
	return err
}

type restLister struct {
	c           *github.Client
	owner, repo string
	onRate      func(int)
}

func (l *restLister) ListRegistrations(ctx context.Context) ([]Registration, error) {
	var out []Registration
	opts := &github.ListRunnersOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := l.c.Actions.ListRunners(ctx, l.owner, l.repo, opts)
		if resp != nil && l.onRate != nil && resp.Rate.Limit > 0 {
			l.onRate(resp.Rate.Remaining)
		}
		if err != nil {
			return nil, restError("list-runners", resp, err)
		}
		for _, r := range page.Runners {
			out = append(out, Registration{ID: r.GetID(), Name: r.GetName(), Online: r.GetStatus() == "online"})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// restError turns go-github's typed errors into a *GitHubError.
func restError(op string, resp *github.Response, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	ge := &GitHubError{Op: op, Err: err}
	if resp != nil && resp.Response != nil {
		ge.Status = resp.StatusCode
		ge.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		ge.RetryAfter = max(time.Until(rl.Rate.Reset.Time), time.Second)
	case errors.As(err, &abuse):
		ge.RetryAfter = max(abuse.GetRetryAfter(), time.Second)
	}
	return ge
}
