// Package runnerrelease keeps the fleet's GitHub Actions runner current.
//
// GitHub refuses runners older than 2.329.0 and stops giving jobs to a runner
// that has not installed a release within 30 days of its publication. Once a
// day (and at start) the controller reads the actions/runner releases through
// go-github, takes the linux-arm64 tarball's SHA-256 from the release asset's
// digest, chooses the release to adopt (Adopt: the newest one published at
// least adoptAfterDays ago) and publishes it to an SSM parameter that
// instances read at boot. DaysBehind measures how far the version in use lags,
// which the stack alarms on.
package runnerrelease

import (
	"time"

	"github.com/Masterminds/semver/v3"
)

// Release is one runner release as the SSM parameter holds it (JSON).
type Release struct {
	// Version is the release without its v prefix, for example 2.335.1.
	Version string `json:"version"`
	// URL is the linux-arm64 tarball's download address.
	URL string `json:"url"`
	// SHA256 is the tarball's SHA-256 (64 lowercase hex digits).
	SHA256 string `json:"sha256"`
	// PublishedAt is when GitHub published the release.
	PublishedAt time.Time `json:"publishedAt"`
}

// AssetName is the tarball instances download for a version.
func AssetName(version string) string {
	return "actions-runner-linux-arm64-" + version + ".tar.gz"
}

// DownloadURL is the only address the boot script accepts for a version.
func DownloadURL(version string) string {
	return "https://github.com/actions/runner/releases/download/v" + version + "/" + AssetName(version)
}

// newer reports whether version a is newer than b; unparsable versions are
// never newer (they cannot be published either).
func newer(a, b string) bool {
	va, errA := semver.StrictNewVersion(a)
	vb, errB := semver.StrictNewVersion(b)
	if errA != nil {
		return false
	}
	if errB != nil {
		return true
	}
	return va.GreaterThan(vb)
}

// Adopt chooses the release to publish among releases (any order): the
// newest one published at least adoptAfter before now and not older than the
// floor. ok is false when none qualifies (every release is too young, or
// older than the floor): instances then keep what they have, or the floor.
//
// Staging by age lets dev (1 day) run a release before prod (5 days), while
// both stay inside GitHub's 30 days.
func Adopt(releases []Release, now time.Time, adoptAfter time.Duration, floor string) (Release, bool) {
	var best Release
	ok := false
	for _, r := range releases {
		if now.Sub(r.PublishedAt) < adoptAfter {
			continue
		}
		if newer(floor, r.Version) {
			continue
		}
		if !ok || newer(r.Version, best.Version) {
			best, ok = r, true
		}
	}
	return best, ok
}

// DaysBehind is how many whole days the version in use has lagged: the age of
// the oldest release newer than it (GitHub counts its 30 days from that
// release's publication). 0 when no known release is newer.
func DaysBehind(releases []Release, inUse string, now time.Time) int {
	var oldest time.Time
	for _, r := range releases {
		if newer(r.Version, inUse) && (oldest.IsZero() || r.PublishedAt.Before(oldest)) {
			oldest = r.PublishedAt
		}
	}
	if oldest.IsZero() || now.Before(oldest) {
		return 0
	}
	return int(now.Sub(oldest) / (24 * time.Hour))
}
