package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/actions/scaleset"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Connection is one authenticated set of GitHub clients. A new one is made when
// GitHub answers 401, from a freshly read credential.
type Connection struct {
	API         ScaleSets
	Lister      RunnerLister
	OpenSession SessionOpener
}

// Connector builds a Connection; it reads the credential each time, so a
// rotated secret is picked up on the refresh that follows a 401.
type Connector func(ctx context.Context) (*Connection, error)

// GitHub wraps the scale set and REST clients with the controller's error
// policy: retry what can be retried, refresh credentials once on 401, treat 409
// on a JIT name as already provisioned, and fail closed on everything else.
type GitHub struct {
	connect Connector
	retry   Backoff
	log     *slog.Logger

	mu   sync.RWMutex
	conn *Connection
}

// NewGitHub connects once and returns the wrapper.
func NewGitHub(ctx context.Context, connect Connector, retry Backoff, log *slog.Logger) (*GitHub, error) {
	conn, err := connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("github: connect: %w", err)
	}
	return &GitHub{connect: connect, retry: retry, log: log, conn: conn}, nil
}

func (g *GitHub) current() *Connection {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.conn
}

// refresh replaces the connection unless another caller already did since
// stale was read.
func (g *GitHub) refresh(ctx context.Context, stale *Connection) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != stale {
		return nil
	}
	conn, err := g.connect(ctx)
	if err != nil {
		return fmt.Errorf("github: refresh credentials: %w", err)
	}
	g.log.Info("github credentials refreshed after 401")
	g.conn = conn
	return nil
}

// do runs fn under the retry policy; a 401 refreshes the credentials once and
// runs it again.
func (g *GitHub) do(ctx context.Context, op string, fn func(ctx context.Context, c *Connection) error) error {
	refreshed := false
	for {
		conn := g.current()
		err := g.retry.Do(ctx, op, func(ctx context.Context) error { return fn(ctx, conn) })
		if err == nil {
			return nil
		}
		if c, _ := classify(err); c != classUnauthorized || refreshed {
			return err
		}
		refreshed = true
		if rerr := g.refresh(ctx, conn); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
}

// ErrNoRunnerGroup means the configured runner group does not exist. The
// controller never falls back to another group.
var ErrNoRunnerGroup = errors.New("runner group not found")

// EnsureScaleSet creates the pool's scale set, or updates it when its labels
// changed, and returns its id. It never deletes a scale set.
func (g *GitHub) EnsureScaleSet(ctx context.Context, p settings.Pool) (int, error) {
	var group *scaleset.RunnerGroup
	err := g.do(ctx, "get-runner-group", func(ctx context.Context, c *Connection) error {
		var err error
		group, err = c.API.GetRunnerGroupByName(ctx, p.RunnerGroup)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pool %s: runner group %q: %w", p.Name, p.RunnerGroup, err)
	}
	if group == nil || group.ID == 0 || group.Name != "" && !strings.EqualFold(group.Name, p.RunnerGroup) {
		return 0, fmt.Errorf("pool %s: runner group %q: %w", p.Name, p.RunnerGroup, ErrNoRunnerGroup)
	}
	want := &scaleset.RunnerScaleSet{
		Name:          p.ScaleSetName,
		RunnerGroupID: group.ID,
		Labels:        scaleSetLabels(p),
		RunnerSetting: scaleset.RunnerSetting{DisableUpdate: true},
	}
	var existing *scaleset.RunnerScaleSet
	err = g.do(ctx, "get-scale-set", func(ctx context.Context, c *Connection) error {
		var err error
		existing, err = c.API.GetRunnerScaleSet(ctx, group.ID, p.ScaleSetName)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pool %s: look up scale set %q: %w", p.Name, p.ScaleSetName, err)
	}
	if existing == nil {
		var created *scaleset.RunnerScaleSet
		err = g.do(ctx, "create-scale-set", func(ctx context.Context, c *Connection) error {
			var err error
			created, err = c.API.CreateRunnerScaleSet(ctx, cloneScaleSet(want))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("pool %s: create scale set %q: %w", p.Name, p.ScaleSetName, err)
		}
		g.log.Info("scale set created", "pool", p.Name, "scale_set", p.ScaleSetName, "scale_set_id", created.ID)
		return created.ID, nil
	}
	if sameLabels(existing.Labels, want.Labels) && existing.RunnerSetting == want.RunnerSetting {
		return existing.ID, nil
	}
	err = g.do(ctx, "update-scale-set", func(ctx context.Context, c *Connection) error {
		_, err := c.API.UpdateRunnerScaleSet(ctx, existing.ID, cloneScaleSet(want))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pool %s: update scale set %q: %w", p.Name, p.ScaleSetName, err)
	}
	g.log.Info("scale set updated", "pool", p.Name, "scale_set", p.ScaleSetName, "scale_set_id", existing.ID)
	return existing.ID, nil
}

// JIT mints a single-use runner config named name. already is true when GitHub
// answered 409: a runner of that name exists, so this instance was provisioned
// by an earlier attempt (the config then cannot be minted again).
func (g *GitHub) JIT(ctx context.Context, scaleSetID int, name string) (config string, already bool, err error) {
	err = g.do(ctx, "generate-jit-config", func(ctx context.Context, c *Connection) error {
		r, err := c.API.GenerateJitRunnerConfig(ctx, &scaleset.RunnerScaleSetJitRunnerSetting{Name: name, WorkFolder: "_work"}, scaleSetID)
		if err != nil {
			return err
		}
		if r == nil || r.EncodedJITConfig == "" {
			return &GitHubError{Op: "generate-jit-config", Status: http.StatusUnprocessableEntity, Err: errors.New("empty JIT config")}
		}
		config = r.EncodedJITConfig
		return nil
	})
	if githubStatus(err) == http.StatusConflict || errors.Is(err, scaleset.RunnerExistsError) {
		return "", true, nil
	}
	return config, false, err
}

// FindRunner looks a registration up by name. It answers nil, nil only when
// GitHub confirms there is none (an empty lookup, or its runner-not-found
// error); any other failure, a bare 404 included, is an error: unknown, which
// is never treated as absent.
func (g *GitHub) FindRunner(ctx context.Context, name string) (*scaleset.RunnerReference, error) {
	var r *scaleset.RunnerReference
	err := g.do(ctx, "get-runner", func(ctx context.Context, c *Connection) error {
		var err error
		r, err = c.API.GetRunnerByName(ctx, name)
		return err
	})
	if errors.Is(err, scaleset.RunnerNotFoundError) {
		return nil, nil
	}
	return r, err
}

// ErrJobRunning means GitHub refused to remove a runner because its job is
// still running. It is the server's own answer, so it is trusted where the
// runner list's busy flag is not.
var ErrJobRunning = errors.New("runner has a running job")

// RemoveRunner deletes a registration. A registration GitHub confirms gone
// (its runner-not-found error) is success; a bare 404 is not.
func (g *GitHub) RemoveRunner(ctx context.Context, id int64) error {
	err := g.do(ctx, "remove-runner", func(ctx context.Context, c *Connection) error {
		return c.API.RemoveRunner(ctx, id)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, scaleset.JobStillRunningError):
		return fmt.Errorf("%w: %w", ErrJobRunning, err)
	case errors.Is(err, scaleset.RunnerNotFoundError):
		return nil
	}
	return err
}

// Registrations lists the repository's runner registrations.
func (g *GitHub) Registrations(ctx context.Context) ([]Registration, error) {
	var regs []Registration
	err := g.do(ctx, "list-runners", func(ctx context.Context, c *Connection) error {
		var err error
		regs, err = c.Lister.ListRegistrations(ctx)
		return err
	})
	return regs, err
}

// OpenSession opens a message session on the current connection.
func (g *GitHub) OpenSession(ctx context.Context, scaleSetID int) (Session, error) {
	var s Session
	err := g.do(ctx, "create-session", func(ctx context.Context, c *Connection) error {
		var err error
		s, err = c.OpenSession(ctx, scaleSetID)
		return err
	})
	return s, err
}

func scaleSetLabels(p settings.Pool) []scaleset.Label {
	names := p.Labels
	if len(names) == 0 {
		names = []string{p.ScaleSetName}
	}
	out := make([]scaleset.Label, 0, len(names))
	for _, n := range names {
		out = append(out, scaleset.Label{Name: n, Type: "System"})
	}
	return out
}

func sameLabels(a, b []scaleset.Label) bool {
	names := func(ls []scaleset.Label) []string {
		out := make([]string, 0, len(ls))
		for _, l := range ls {
			out = append(out, l.Name)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(names(a), names(b))
}

func cloneScaleSet(s *scaleset.RunnerScaleSet) *scaleset.RunnerScaleSet {
	c := *s
	c.Labels = slices.Clone(s.Labels)
	return &c
}
