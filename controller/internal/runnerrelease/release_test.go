package runnerrelease

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

const day = 24 * time.Hour

func rel(v string, published time.Time) Release {
	return Release{Version: v, URL: DownloadURL(v), SHA256: strings.Repeat("a", 64), PublishedAt: published}
}

// A realistic history: a release every 2-3 weeks.
var history = []Release{
	rel("2.337.0", day0.Add(40*day)),
	rel("2.336.0", day0.Add(20*day)),
	rel("2.335.1", day0),
	rel("2.334.0", day0.Add(-21*day)),
}

func TestAdopt_GivenDates_ThenNewestReleaseOldEnoughAndNotBelowTheFloor(t *testing.T) {
	cases := []struct {
		name       string
		now        time.Time
		adoptAfter time.Duration
		floor      string
		want       string // "" for none
	}{
		{"dev a day after 2.336.0", day0.Add(21 * day), 1 * day, "2.335.1", "2.336.0"},
		{"prod the same day keeps 2.335.1", day0.Add(21 * day), 5 * day, "2.335.1", "2.335.1"},
		{"prod five days after", day0.Add(25 * day), 5 * day, "2.335.1", "2.336.0"},
		{"exactly at the boundary adopts", day0.Add(20*day + 5*day), 5 * day, "2.335.1", "2.336.0"},
		{"a minute before the boundary does not", day0.Add(25*day - time.Minute), 5 * day, "2.335.1", "2.335.1"},
		{"newest after its delay", day0.Add(41 * day), 1 * day, "2.335.1", "2.337.0"},
		{"floor above every old-enough release", day0.Add(21 * day), 5 * day, "2.336.0", ""},
		{"nothing old enough", day0.Add(-20 * day), 5 * day, "2.329.0", ""},
		{"floor equal to a release adopts it", day0.Add(1 * day), 1 * day, "2.335.1", "2.335.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Adopt(history, tc.now, tc.adoptAfter, tc.floor)
			if tc.want == "" {
				if ok {
					t.Errorf("adopted %s, want none", got.Version)
				}
				return
			}
			if !ok || got.Version != tc.want {
				t.Errorf("adopted %q (ok %v), want %s", got.Version, ok, tc.want)
			}
		})
	}
}

// Whatever the release dates, a release is adopted within adoptAfter plus a
// day of check interval, which keeps both stages inside GitHub's 30 days.
func TestAdopt_GivenAnyHistory_ThenEveryReleaseIsAdoptedWithinItsDelay(t *testing.T) {
	for _, adoptDays := range []int{1, 5, 20} {
		published := day0
		var releases []Release
		for i := range 30 {
			published = published.Add(time.Duration(1+(i*7)%23) * day) // irregular gaps of 1-23 days
			releases = append(releases, rel("2."+strconv.Itoa(340+i)+".0", published))
		}
		for _, r := range releases {
			checkedAt := r.PublishedAt.Add(time.Duration(adoptDays)*day + day)
			got, ok := Adopt(releases, checkedAt, time.Duration(adoptDays)*day, "2.329.0")
			if !ok || newer(r.Version, got.Version) {
				t.Fatalf("adopt %d days: %s not adopted %v after publication (got %s)", adoptDays, r.Version, checkedAt.Sub(r.PublishedAt), got.Version)
			}
		}
	}
}

func TestDaysBehind_GivenVersionInUse_ThenAgeOfTheOldestNewerRelease(t *testing.T) {
	cases := []struct {
		inUse string
		now   time.Time
		want  int
	}{
		{"2.337.0", day0.Add(50 * day), 0},
		{"2.336.0", day0.Add(50 * day), 10}, // 2.337.0 is 10 days old
		{"2.335.1", day0.Add(50 * day), 30}, // counted from 2.336.0, not from 2.337.0
		{"2.335.1", day0.Add(45*day + 23*time.Hour), 25},
		{"2.335.1", day0.Add(10 * day), 0}, // 2.336.0 not published yet
		{"2.999.0", day0.Add(50 * day), 0},
	}
	for _, tc := range cases {
		if got := DaysBehind(history, tc.inUse, tc.now); got != tc.want {
			t.Errorf("DaysBehind(%s, +%v) = %d, want %d", tc.inUse, tc.now.Sub(day0), got, tc.want)
		}
	}
}

// fakeSSM is strict where the publisher is concerned: ParameterNotFound for a
// missing name, Overwrite required to replace, injected errors.
type fakeSSM struct {
	values map[string]string
	getErr error
	putErr error
	puts   int
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	v, ok := f.values[aws.ToString(in.Name)]
	if !ok {
		return nil, &types.ParameterNotFound{Message: aws.String("not found")}
	}
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
}

func (f *fakeSSM) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if f.putErr != nil {
		return nil, f.putErr
	}
	name := aws.ToString(in.Name)
	if _, exists := f.values[name]; exists && !aws.ToBool(in.Overwrite) {
		return nil, &types.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	if in.Type != types.ParameterTypeString {
		return nil, errors.New("ValidationException: the release is not secret; it must be a String")
	}
	f.puts++
	f.values[name] = aws.ToString(in.Value)
	return &ssm.PutParameterOutput{Version: int64(f.puts)}, nil
}

const param = "/synapse-ops-runners/dev/runner-release"

func TestPublisher_GivenNothingPublished_ThenWritesOnceAndReadsBack(t *testing.T) {
	f := &fakeSSM{values: map[string]string{}}
	p := Publisher{SSM: f, Name: param}
	if _, ok, err := p.Current(t.Context()); ok || err != nil {
		t.Fatalf("Current on an empty store: ok %v err %v", ok, err)
	}
	r := rel("2.336.0", day0)
	for range 2 {
		if _, err := p.Publish(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if f.puts != 1 {
		t.Errorf("%d writes, want 1 (the second publication is a no-op)", f.puts)
	}
	got, ok, err := p.Current(t.Context())
	if err != nil || !ok || got != r {
		t.Errorf("Current = %+v %v %v", got, ok, err)
	}
	want := `{"version":"2.336.0","url":"https://github.com/actions/runner/releases/download/v2.336.0/actions-runner-linux-arm64-2.336.0.tar.gz","sha256":"` + strings.Repeat("a", 64) + `","publishedAt":"2026-11-01T12:00:00Z"}`
	if f.values[param] != want {
		t.Errorf("parameter value\n got %s\nwant %s", f.values[param], want)
	}
}

func TestPublisher_GivenAReadError_ThenItIsNotMistakenForNothingPublished(t *testing.T) {
	f := &fakeSSM{values: map[string]string{}, getErr: errors.New("AccessDeniedException")}
	p := Publisher{SSM: f, Name: param}
	if _, err := p.Publish(t.Context(), rel("2.336.0", day0)); err == nil || f.puts != 0 {
		t.Errorf("publish over an unreadable parameter: err %v, %d writes", err, f.puts)
	}
}

func TestCheck_GivenPolicies_ThenPublishesAdoptedAndMeasuresTheVersionInUse(t *testing.T) {
	f := &fakeGitHub{releases: []map[string]any{
		release("2.337.0", day0.Add(40*day)),
		release("2.336.0", day0.Add(20*day)),
		release("2.335.1", day0),
	}}
	reader := newReader(t, f)
	now := day0.Add(43 * day)

	store := &fakeSSM{values: map[string]string{}}
	rep, err := Check(t.Context(), reader, Publisher{SSM: store, Name: param}, Policy{AdoptAfter: 5 * day, Floor: "2.335.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Published || rep.Adopted.Version != "2.336.0" || rep.InUse != "2.336.0" || rep.Latest.Version != "2.337.0" || rep.DaysBehind != 3 {
		t.Errorf("prod report %+v", rep)
	}

	rep, err = Check(t.Context(), reader, Publisher{SSM: store, Name: param}, Policy{AdoptAfter: 5 * day, Floor: "2.335.1", Pinned: "2.335.1"}, now)
	if err != nil || rep.InUse != "2.335.1" || rep.DaysBehind != 23 {
		t.Errorf("pinned report %+v %v", rep, err)
	}

	f.rateLimit = true
	store.puts = 0
	if _, err := Check(t.Context(), reader, Publisher{SSM: store, Name: param}, Policy{AdoptAfter: day, Floor: "2.335.1"}, now); !IsRateLimited(err) || store.puts != 0 {
		t.Errorf("rate limited check: %v, %d writes", err, store.puts)
	}
}
