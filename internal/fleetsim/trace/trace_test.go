package trace

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

var devPools = Pools{Env: "dev", Names: []string{"default", "long"}, InstanceTypes: []string{"m7g.large", "m6g.large"}}

func d(s string) Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Duration(v)
}

func valid() *Trace {
	return &Trace{Name: "t", Length: d("24h"), Jobs: []Job{{ID: "a", Pool: "default", QueuedAt: d("1h"), Duration: d("5m")}}}
}

func TestGivenBrokenTraces_WhenValidated_ThenTheErrorNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Trace)
		wants []string
	}{
		{"unknown pool", func(t *Trace) { t.Jobs[0].Pool = "gpu" }, []string{`jobs[0].pool: "gpu" is not a pool of environment dev; use one of: default, long`}},
		{"negative queue time", func(t *Trace) { t.Jobs[0].QueuedAt = d("-5m") }, []string{"jobs[0].queuedAt: -5m0s is negative"}},
		{"zero duration", func(t *Trace) { t.Jobs[0].Duration = 0 }, []string{"jobs[0].duration: 0s must be positive"}},
		{"duplicate id", func(t *Trace) { t.Jobs = append(t.Jobs, t.Jobs[0]) }, []string{`jobs[1].id: "a" is also the id of jobs[0]`}},
		{"after the end", func(t *Trace) { t.Jobs[0].QueuedAt = d("25h") }, []string{"jobs[0].queuedAt: 25h0m0s is after the trace's length"}},
		{"overlapping outages", func(t *Trace) {
			t.Faults.GitHubOutages = []Window{{d("1h"), d("3h")}, {d("2h"), d("4h")}}
		}, []string{"faults.githubOutages[1]: [2h0m0s, 4h0m0s) overlaps faults.githubOutages[0]"}},
		{"backwards window", func(t *Trace) { t.Faults.ServerErrorStorms = []Window{{d("3h"), d("2h")}} }, []string{"faults.serverErrorStorms[0].to: 2h0m0s is not after from"}},
		{"overlapping shortages of one type", func(t *Trace) {
			t.Faults.CapacityShortages = []CapacityShortage{
				{Window{d("1h"), d("3h")}, "m7g.large", PurchaseSpot},
				{Window{d("1h"), d("3h")}, "m6g.large", PurchaseSpot},
				{Window{d("2h"), d("4h")}, "m7g.large", PurchaseSpot},
			}
		}, []string{"faults.capacityShortages[2]: [2h0m0s, 4h0m0s) overlaps faults.capacityShortages[0]"}},
		{"shortage of an unknown type", func(t *Trace) {
			t.Faults.CapacityShortages = []CapacityShortage{{Window{d("1h"), d("3h")}, "x1.large", "reserved"}}
		}, []string{`faults.capacityShortages[0].instanceType: "x1.large" is not an instance type`, `faults.capacityShortages[0].purchase: "reserved"`}},
		{"spot interruption", func(t *Trace) {
			t.Faults.SpotInterruptions = []SpotInterruption{{At: d("-1s"), Pool: "gpu", Runner: "sleepy"}}
		}, []string{"faults.spotInterruptions[0].at: -1s is negative", `faults.spotInterruptions[0].pool: "gpu"`, `faults.spotInterruptions[0].runner: "sleepy"`}},
		{"overlapping boot failures of one pool", func(t *Trace) {
			t.Faults.BootFailures = []BootFailure{{Window{d("1h"), d("3h")}, "default"}, {Window{d("2h"), d("4h")}, "default"}}
		}, []string{"faults.bootFailures[1]: [2h0m0s, 4h0m0s) overlaps faults.bootFailures[0]"}},
		{"restart", func(t *Trace) { t.Faults.ControllerRestarts = []Restart{{At: d("-1h")}} }, []string{"faults.controllerRestarts[0].at: -1h0m0s is negative"}},
		{"header", func(t *Trace) { t.Name, t.Length, t.Start = "", 0, "monday" }, []string{"name: missing", "length: must be positive", `start: "monday" is not an RFC 3339 time`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := valid()
			tc.edit(tr)
			err := tr.Validate(devPools)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestGivenDisjointWindowsOrOtherTypes_WhenValidated_ThenAccepted(t *testing.T) {
	tr := valid()
	tr.Faults.GitHubOutages = []Window{{d("3h"), d("4h")}, {d("1h"), d("3h")}}
	tr.Faults.CapacityShortages = []CapacityShortage{
		{Window{d("1h"), d("3h")}, "m7g.large", PurchaseSpot},
		{Window{d("1h"), d("3h")}, "m7g.large", PurchaseOnDemand},
		{Window{d("1h"), d("3h")}, "m6g.large", PurchaseSpot},
	}
	tr.Faults.BootFailures = []BootFailure{{Window{d("1h"), d("3h")}, "default"}, {Window{d("1h"), d("3h")}, "long"}}
	if err := tr.Validate(devPools); err != nil {
		t.Fatal(err)
	}
}

func TestGivenUnknownOrMistypedFields_WhenDecoded_ThenTheErrorNamesThem(t *testing.T) {
	for doc, want := range map[string]string{
		`{"name":"t","length":"1h","jobs":[],"faults":{"githubOutage":[]}}`:           `unknown field "githubOutage"`,
		`{"name":"t","length":"1h","jobs":[{"id":"a","queuedAt":5}]}`:                 "want a duration string",
		`{"name":"t","length":"1h","jobs":[{"id":1}]}`:                                "jobs.id: want a string",
		`{"name":"t","length":"1h","jobs":[]} {}`:                                     "trailing data",
		`{"name":"t","length":"1h","jobs":[{"id":"a","queuedAt":"soon","pool":"x"}]}`: `got "soon"`,
	} {
		_, err := Decode([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error containing %q, got %v", doc, want, err)
		}
	}
}

func TestGivenASeed_WhenGeneratedTwice_ThenTheBytesAreEqual_AndOtherSeedsDiffer(t *testing.T) {
	enc := func(o GenOptions) string {
		var b bytes.Buffer
		if err := Encode(&b, Generate(o)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	a, b := enc(GenOptions{Seed: 7, Faults: true}), enc(GenOptions{Seed: 7, Faults: true})
	if a != b {
		t.Fatal("same seed, different traces")
	}
	if a == enc(GenOptions{Seed: 8, Faults: true}) {
		t.Fatal("the seed changes nothing")
	}
	back, err := Decode([]byte(a))
	if err != nil {
		t.Fatal(err)
	}
	if enc2 := func() string { var w bytes.Buffer; _ = Encode(&w, back); return w.String() }(); enc2 != a {
		t.Fatal("encode(decode(x)) != x")
	}
}

// The generated week is the one the issue describes.
func TestGivenSeeds_WhenAWeekIsGenerated_ThenItHasTheShapeOfSynapseOperations(t *testing.T) {
	for seed := range uint64(50) {
		tr := Generate(GenOptions{Seed: seed, Faults: true, SpotTypes: []string{"m7g.large", "m6g.large"}})
		if err := tr.Validate(devPools); err != nil {
			t.Fatalf("seed %d: generated trace invalid: %v", seed, err)
		}
		var deploy, migrations, adhoc, burst []Job
		for _, j := range tr.Jobs {
			switch {
			case strings.Contains(j.ID, "deploy"):
				deploy = append(deploy, j)
			case strings.Contains(j.ID, "migration"):
				migrations = append(migrations, j)
			case strings.Contains(j.ID, "adhoc"):
				adhoc = append(adhoc, j)
			case strings.Contains(j.ID, "burst"):
				burst = append(burst, j)
			default:
				t.Fatalf("unexpected job %s", j.ID)
			}
			dayOf, hourOf := j.QueuedAt.D()/(24*time.Hour), (j.QueuedAt.D() % (24 * time.Hour)).Hours()
			if dayOf >= 5 || hourOf < 9 || hourOf >= 17 {
				t.Errorf("seed %d: %s queued at day %d %.2fh, outside working hours", seed, j.ID, dayOf, hourOf)
			}
		}
		if len(deploy) < 3 || deploy[0].QueuedAt.D()/(24*time.Hour) != 1 {
			t.Errorf("seed %d: want a deployment of several jobs on Tuesday, got %v", seed, deploy)
		}
		for i := 1; i < len(deploy); i++ {
			if deploy[i].QueuedAt < deploy[i-1].QueuedAt+deploy[i-1].Duration {
				t.Errorf("seed %d: deployment step %s queued before the previous one ends", seed, deploy[i].ID)
			}
		}
		if len(migrations) != 2 || migrations[0].Duration != d("30h") || migrations[0].Pool != "long" {
			t.Errorf("seed %d: want two 30-hour migrations on the long pool, got %v", seed, migrations)
		}
		if len(adhoc) < 40 || len(adhoc) > 80 {
			t.Errorf("seed %d: %d ad hoc tasks, want 40 to 80", seed, len(adhoc))
		}
		for _, j := range adhoc {
			if j.Duration < d("1m") || j.Duration > d("20m") {
				t.Errorf("seed %d: ad hoc %s lasts %s", seed, j.ID, j.Duration.D())
			}
		}
		first, last := burst[0].QueuedAt, burst[0].QueuedAt
		for _, j := range burst {
			first, last = min(first, j.QueuedAt), max(last, j.QueuedAt)
		}
		if len(burst) != 15 || last-first > d("5m") {
			t.Errorf("seed %d: want a burst of 15 jobs in 5 minutes, got %d in %s", seed, len(burst), (last - first).D())
		}
		o := tr.Faults.GitHubOutages[0]
		m := migrations[0]
		if o.To-o.From != d("2h") || o.From < m.QueuedAt || o.To > m.QueuedAt+m.Duration {
			t.Errorf("seed %d: the 2-hour outage %v is not inside the migration", seed, o)
		}
		if tr.Faults.SpotInterruptions[0].Runner != TargetIdle {
			t.Errorf("seed %d: want a spot interruption of an idle runner", seed)
		}
	}
}

// The committed traces are what `fleetsim gen` prints, so they can be
// regenerated and reviewed as a diff.
func TestGivenTheCommittedTraces_WhenRegenerated_ThenTheyMatch(t *testing.T) {
	for file, faults := range map[string]bool{"ops-week.json": false, "faults-week.json": true} {
		want, err := os.ReadFile("../../../sim/traces/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := Encode(&b, Generate(GenOptions{Seed: 1, Faults: faults, SpotTypes: []string{"m7g.large", "m6g.large", "c7g.xlarge", "t4g.large"}})); err != nil {
			t.Fatal(err)
		}
		if b.String() != string(want) {
			t.Errorf("sim/traces/%s differs from `fleetsim gen --seed 1%s`; regenerate it with make sim-traces", file, map[bool]string{true: " --faults"}[faults])
		}
	}
}
