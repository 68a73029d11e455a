package trace

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pools is what validation needs to know about the environment.
type Pools struct {
	// Env names the environment in messages.
	Env string
	// Names are the pool names of environments/<env>.json.
	Names []string
	// InstanceTypes are every instance type of any pool.
	InstanceTypes []string
}

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// Validate reports every problem of the trace at once, each naming the field and
// the fix.
func (t *Trace) Validate(env Pools) error {
	var p problems
	if t.Name == "" {
		p.add("name", "missing; name the trace (it labels every report)")
	}
	if t.Start != "" {
		if _, err := time.Parse(time.RFC3339, t.Start); err != nil {
			p.add("start", "%q is not an RFC 3339 time; write it like \"2026-11-30T00:00:00-08:00\" or leave it out", t.Start)
		}
	}
	if t.Length <= 0 {
		p.add("length", "must be positive; set the simulated span, for example \"168h\"")
	}
	pool := func(field, name string) {
		if !slices.Contains(env.Names, name) {
			p.add(field, "%q is not a pool of environment %s; use one of: %s", name, env.Env, strings.Join(env.Names, ", "))
		}
	}
	at := func(field string, d Duration) {
		if d < 0 {
			p.add(field, "%s is negative; offsets count from the trace's start", d.D())
		} else if t.Length > 0 && d > t.Length {
			p.add(field, "%s is after the trace's length %s; move it or lengthen the trace", d.D(), t.Length.D())
		}
	}
	if len(t.Jobs) == 0 {
		p.add("jobs", "empty; a trace needs at least one job")
	}
	seen := map[string]int{}
	for i, j := range t.Jobs {
		f := fmt.Sprintf("jobs[%d]", i)
		if j.ID == "" {
			p.add(f+".id", "missing; give every job a unique id")
		} else if prev, dup := seen[j.ID]; dup {
			p.add(f+".id", "%q is also the id of jobs[%d]; ids must be unique", j.ID, prev)
		} else {
			seen[j.ID] = i
		}
		pool(f+".pool", j.Pool)
		at(f+".queuedAt", j.QueuedAt)
		if j.Duration <= 0 {
			p.add(f+".duration", "%s must be positive", j.Duration.D())
		}
	}
	window := func(field string, w Window) {
		at(field+".from", w.From)
		at(field+".to", w.To)
		if w.To <= w.From {
			p.add(field+".to", "%s is not after from (%s); a window needs from < to", w.To.D(), w.From.D())
		}
	}
	plain := func(kind string, ws []Window) {
		for i, w := range ws {
			window(fmt.Sprintf("faults.%s[%d]", kind, i), w)
		}
		overlaps(&p, "faults."+kind, ws, make([]string, len(ws)))
	}
	f := t.Faults
	plain("githubOutages", f.GitHubOutages)
	plain("serverErrorStorms", f.ServerErrorStorms)
	plain("notFoundBursts", f.NotFoundBursts)
	plain("sessionConflicts", f.SessionConflicts)

	var shortages []Window
	var shortageKeys []string
	for i, c := range f.CapacityShortages {
		field := fmt.Sprintf("faults.capacityShortages[%d]", i)
		window(field, c.Window)
		if !slices.Contains(env.InstanceTypes, c.InstanceType) {
			p.add(field+".instanceType", "%q is not an instance type of any pool of environment %s (a shortage of it would change nothing); use one of: %s",
				c.InstanceType, env.Env, strings.Join(env.InstanceTypes, ", "))
		}
		if c.Purchase != PurchaseSpot && c.Purchase != PurchaseOnDemand {
			p.add(field+".purchase", "%q is not a purchase option; use %q or %q", c.Purchase, PurchaseSpot, PurchaseOnDemand)
		}
		shortages = append(shortages, c.Window)
		shortageKeys = append(shortageKeys, c.InstanceType+"/"+c.Purchase)
	}
	overlaps(&p, "faults.capacityShortages", shortages, shortageKeys)

	for i, s := range f.SpotInterruptions {
		field := fmt.Sprintf("faults.spotInterruptions[%d]", i)
		at(field+".at", s.At)
		pool(field+".pool", s.Pool)
		switch s.Runner {
		case "", TargetIdle, TargetBusy, TargetAny:
		default:
			p.add(field+".runner", "%q is not a runner state; use %q, %q or %q", s.Runner, TargetIdle, TargetBusy, TargetAny)
		}
	}
	for i, r := range f.ControllerRestarts {
		at(fmt.Sprintf("faults.controllerRestarts[%d].at", i), r.At)
	}
	var boots []Window
	var bootKeys []string
	for i, b := range f.BootFailures {
		field := fmt.Sprintf("faults.bootFailures[%d]", i)
		window(field, b.Window)
		pool(field+".pool", b.Pool)
		boots = append(boots, b.Window)
		bootKeys = append(bootKeys, b.Pool)
	}
	overlaps(&p, "faults.bootFailures", boots, bootKeys)
	return errors.Join(p...)
}

// overlaps reports windows of the same kind (same key) that overlap.
func overlaps(p *problems, field string, ws []Window, keys []string) {
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Or(strings.Compare(keys[a], keys[b]), cmp.Compare(ws[a].From, ws[b].From))
	})
	for n := 1; n < len(idx); n++ {
		a, b := ws[idx[n-1]], ws[idx[n]]
		if keys[idx[n-1]] == keys[idx[n]] && b.From < a.To {
			p.add(fmt.Sprintf("%s[%d]", field, idx[n]), "[%s, %s) overlaps %s[%d] [%s, %s) of the same kind; merge them into one window",
				b.From.D(), b.To.D(), field, idx[n-1], a.From.D(), a.To.D())
		}
	}
}
