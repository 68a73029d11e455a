package runnerrelease

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-github/v88/github"
)

// Owner and Repo name the runner's repository on github.com.
const (
	Owner = "actions"
	Repo  = "runner"
)

// Repositories is the part of go-github's RepositoriesService the reader uses.
type Repositories interface {
	GetLatestRelease(ctx context.Context, owner, repo string) (*github.RepositoryRelease, *github.Response, error)
	ListReleases(ctx context.Context, owner, repo string, opts *github.ListOptions) ([]*github.RepositoryRelease, *github.Response, error)
}

// Reader reads actions/runner releases.
type Reader struct {
	Repos Repositories
	// Pages is how many pages of 30 releases ListReleases reads; actions/runner
	// publishes a few releases a month, so one page spans far more than 30 days.
	//
	// Default: 1
	Pages int
}

// ErrNoAsset and ErrNoDigest mark a release that cannot be published: without
// the linux-arm64 tarball, or without GitHub's SHA-256 digest for it.
var (
	ErrNoAsset  = errors.New("no linux-arm64 tarball")
	ErrNoDigest = errors.New("no sha256 digest on the linux-arm64 tarball")
)

var digestPattern = regexp.MustCompile(`^sha256:([0-9a-f]{64})$`)

// Latest is the latest published release (GitHub's "latest": no draft, no
// pre-release), with its tarball's digest.
func (r Reader) Latest(ctx context.Context) (Release, error) {
	rel, _, err := r.Repos.GetLatestRelease(ctx, Owner, Repo)
	if err != nil {
		return Release{}, fmt.Errorf("runnerrelease: latest release of %s/%s: %w", Owner, Repo, err)
	}
	if rel.GetDraft() || rel.GetPrerelease() {
		return Release{}, fmt.Errorf("runnerrelease: latest release %s is a draft or pre-release", rel.GetTagName())
	}
	return fromGitHub(rel)
}

// Recent lists the recent published releases, newest first, skipping drafts
// and pre-releases. A release that cannot be published (no tarball, no
// digest) is left out and reported in skipped, so one bad release never
// hides the others.
func (r Reader) Recent(ctx context.Context) (releases []Release, skipped []error, err error) {
	pages := r.Pages
	if pages == 0 {
		pages = 1
	}
	opts := &github.ListOptions{PerPage: 30}
	for range pages {
		list, resp, err := r.Repos.ListReleases(ctx, Owner, Repo, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("runnerrelease: list releases of %s/%s: %w", Owner, Repo, err)
		}
		for _, rel := range list {
			if rel.GetDraft() || rel.GetPrerelease() {
				continue
			}
			out, err := fromGitHub(rel)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			releases = append(releases, out)
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return releases, skipped, nil
}

func fromGitHub(rel *github.RepositoryRelease) (Release, error) {
	version := strings.TrimPrefix(rel.GetTagName(), "v")
	if !versionPattern.MatchString(version) {
		return Release{}, fmt.Errorf("runnerrelease: tag %q is not a runner version", rel.GetTagName())
	}
	want := AssetName(version)
	for _, a := range rel.Assets {
		if a.GetName() != want {
			continue
		}
		m := digestPattern.FindStringSubmatch(a.GetDigest())
		if m == nil {
			return Release{}, fmt.Errorf("runnerrelease: %s: %w (digest %q)", version, ErrNoDigest, a.GetDigest())
		}
		return Release{
			Version:     version,
			URL:         DownloadURL(version),
			SHA256:      m[1],
			PublishedAt: rel.GetPublishedAt().UTC(),
		}, nil
	}
	return Release{}, fmt.Errorf("runnerrelease: %s: %w (%s)", version, ErrNoAsset, want)
}

var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// IsRateLimited reports whether err is GitHub's primary or secondary rate limit.
func IsRateLimited(err error) bool {
	var primary *github.RateLimitError
	var secondary *github.AbuseRateLimitError
	return errors.As(err, &primary) || errors.As(err, &secondary)
}
