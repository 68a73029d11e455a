package runnerrelease

import (
	"context"
	"time"
)

// Policy is what the environment's config says about adoption.
type Policy struct {
	// AdoptAfter is how long after publication a release is adopted.
	AdoptAfter time.Duration
	// Floor is the configured minimum version instances fall back to.
	Floor string
	// Pinned, when set, is the version instances run regardless of the
	// publication; it is what DaysBehind measures.
	Pinned string
}

// Report is the outcome of one Check.
type Report struct {
	// Latest is the newest publishable release seen.
	Latest Release
	// Adopted is the release chosen for publication (zero when none qualified).
	Adopted Release
	// Published reports whether the parameter was written.
	Published bool
	// InUse is the version instances install now: the pin, the published
	// release, or the floor.
	InUse string
	// DaysBehind is how far InUse lags (see DaysBehind).
	DaysBehind int
	// Skipped lists releases that could not be published (no asset, no digest).
	Skipped []error
}

// Check reads the recent releases, publishes the adopted one and measures how
// far the version in use is behind. An error leaves the parameter unchanged.
func Check(ctx context.Context, reader Reader, pub Publisher, policy Policy, now time.Time) (Report, error) {
	releases, skipped, err := reader.Recent(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Skipped: skipped, InUse: policy.Floor}
	for _, r := range releases {
		if newer(r.Version, rep.Latest.Version) || rep.Latest.Version == "" {
			rep.Latest = r
		}
	}
	if adopted, ok := Adopt(releases, now, policy.AdoptAfter, policy.Floor); ok {
		rep.Adopted = adopted
		if rep.Published, err = pub.Publish(ctx, adopted); err != nil {
			return rep, err
		}
	}
	switch cur, ok, err := pub.Current(ctx); {
	case err != nil:
		return rep, err
	case policy.Pinned != "":
		rep.InUse = policy.Pinned
	case ok && !newer(policy.Floor, cur.Version):
		rep.InUse = cur.Version
	}
	rep.DaysBehind = DaysBehind(releases, rep.InUse, now)
	return rep, nil
}
