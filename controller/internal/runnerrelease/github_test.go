package runnerrelease

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v88/github"
)

// fakeGitHub serves the two release endpoints the reader calls, like
// api.github.com: JSON release objects with assets and digests, pagination
// through Link headers, 404 for an unknown repository, rate limits as 403 with
// X-RateLimit-Remaining 0, and injected 5xx.
type fakeGitHub struct {
	mu        sync.Mutex
	releases  []map[string]any // newest first, as GitHub lists them
	status    int              // when set, every call answers it
	rateLimit bool
	perPage   int
	calls     []string
}

func (f *fakeGitHub) handler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case f.rateLimit:
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Hour).Unix()))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for 10.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
		return
	case f.status != 0:
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"message":"%s"}`, http.StatusText(f.status))
		return
	case !strings.HasPrefix(r.URL.Path, "/repos/actions/runner/releases"):
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
		return
	case r.URL.Path == "/repos/actions/runner/releases/latest":
		for _, rel := range f.releases {
			if rel["draft"] != true && rel["prerelease"] != true {
				_ = json.NewEncoder(w).Encode(rel)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	case r.URL.Path == "/repos/actions/runner/releases":
		per := f.perPage
		if per == 0 {
			per = 30
		}
		page := 1
		_, _ = fmt.Sscan(r.URL.Query().Get("page"), &page)
		start := min((page-1)*per, len(f.releases))
		end := min(start+per, len(f.releases))
		if end < len(f.releases) {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?page=%d>; rel="next"`, r.Host, r.URL.Path, page+1))
		}
		_ = json.NewEncoder(w).Encode(f.releases[start:end])
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func release(version string, published time.Time, opts ...func(map[string]any)) map[string]any {
	sum := strings.Repeat(fmt.Sprintf("%x", len(version)%16), 64)
	rel := map[string]any{
		"tag_name":     "v" + version,
		"draft":        false,
		"prerelease":   false,
		"published_at": published.UTC().Format(time.RFC3339),
		"assets": []map[string]any{
			{"name": "actions-runner-linux-x64-" + version + ".tar.gz", "digest": "sha256:" + strings.Repeat("0", 64)},
			{"name": AssetName(version), "digest": "sha256:" + sum},
		},
	}
	for _, o := range opts {
		o(rel)
	}
	return rel
}

func prerelease(rel map[string]any) { rel["prerelease"] = true }
func draft(rel map[string]any)      { rel["draft"] = true }
func noArm64(rel map[string]any)    { rel["assets"] = rel["assets"].([]map[string]any)[:1] }
func noDigest(rel map[string]any)   { delete(rel["assets"].([]map[string]any)[1], "digest") }

func newReader(t *testing.T, f *fakeGitHub) Reader {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(f.handler))
	t.Cleanup(srv.Close)
	base := srv.URL + "/"
	c, err := github.NewClient(github.WithURLs(&base, &base), github.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return Reader{Repos: c.Repositories, Pages: 3}
}

var day0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestReader_GivenLatestRelease_ThenVersionURLAndDigestOfTheArm64Tarball(t *testing.T) {
	f := &fakeGitHub{releases: []map[string]any{release("2.336.0", day0.Add(48*time.Hour), prerelease), release("2.335.1", day0)}}
	r := newReader(t, f)
	got, err := r.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := Release{Version: "2.335.1", URL: DownloadURL("2.335.1"), SHA256: strings.Repeat("7", 64), PublishedAt: day0}
	if got != want {
		t.Errorf("Latest = %+v, want %+v", got, want)
	}
	if want := "https://github.com/actions/runner/releases/download/v2.335.1/actions-runner-linux-arm64-2.335.1.tar.gz"; got.URL != want {
		t.Errorf("URL %s, want %s", got.URL, want)
	}
}

func TestReader_GivenPreReleasesAndDrafts_ThenRecentSkipsThem(t *testing.T) {
	f := &fakeGitHub{releases: []map[string]any{
		release("2.337.0", day0.Add(72*time.Hour), prerelease),
		release("2.336.1", day0.Add(60*time.Hour), draft),
		release("2.336.0", day0.Add(48*time.Hour)),
		release("2.335.1", day0),
	}}
	got, skipped, err := newReader(t, f).Recent(t.Context())
	if err != nil || len(skipped) != 0 {
		t.Fatal(err, skipped)
	}
	if len(got) != 2 || got[0].Version != "2.336.0" || got[1].Version != "2.335.1" {
		t.Errorf("Recent = %+v, want 2.336.0 and 2.335.1", got)
	}
}

func TestReader_GivenAReleaseWithoutTheAssetOrItsDigest_ThenItIsSkippedAndNamed(t *testing.T) {
	f := &fakeGitHub{releases: []map[string]any{
		release("2.337.0", day0.Add(72*time.Hour), noArm64),
		release("2.336.0", day0.Add(48*time.Hour), noDigest),
		release("2.335.1", day0),
	}}
	r := newReader(t, f)
	got, skipped, err := r.Recent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Version != "2.335.1" {
		t.Errorf("Recent = %+v, want only 2.335.1", got)
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0].Error(), "2.337.0: no linux-arm64 tarball") || !strings.Contains(skipped[1].Error(), "2.336.0: no sha256 digest") {
		t.Errorf("skipped %v", skipped)
	}
	f.releases = f.releases[1:] // latest is now the one without a digest
	if _, err := r.Latest(t.Context()); err == nil || !strings.Contains(err.Error(), "no sha256 digest") {
		t.Errorf("Latest without digest: %v", err)
	}
}

func TestReader_GivenMoreReleasesThanAPage_ThenLaterPagesAreRead(t *testing.T) {
	f := &fakeGitHub{perPage: 2}
	for i := range 5 {
		f.releases = append(f.releases, release(fmt.Sprintf("2.33%d.0", 9-i), day0.Add(-time.Duration(i)*24*time.Hour)))
	}
	got, _, err := newReader(t, f).Recent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Errorf("read %d releases over pages, want 5 (calls %v)", len(got), f.calls)
	}
}

func TestReader_GivenAnAPIError_ThenItIsReturnedNotTreatedAsNoRelease(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusNotFound} {
		f := &fakeGitHub{releases: []map[string]any{release("2.335.1", day0)}, status: status}
		r := newReader(t, f)
		if _, _, err := r.Recent(t.Context()); err == nil || !strings.Contains(err.Error(), fmt.Sprint(status)) {
			t.Errorf("%d: Recent error %v", status, err)
		}
		if _, err := r.Latest(t.Context()); err == nil {
			t.Errorf("%d: Latest gave no error", status)
		}
	}
}

func TestReader_GivenTheRateLimit_ThenTheErrorSaysSo(t *testing.T) {
	f := &fakeGitHub{releases: []map[string]any{release("2.335.1", day0)}, rateLimit: true}
	_, _, err := newReader(t, f).Recent(t.Context())
	if err == nil || !IsRateLimited(err) {
		t.Fatalf("error %v, want a rate limit error", err)
	}
	if IsRateLimited(fmt.Errorf("other")) {
		t.Error("a plain error counts as a rate limit")
	}
}
