package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const root = "../../.."

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(append([]string{"--environments", filepath.Join(root, "environments")}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestGivenTheSameSeed_WhenRunTwice_ThenTheJSONIsByteIdentical(t *testing.T) {
	args := []string{"--env", "dev", "--trace", filepath.Join(root, "sim/traces/faults-week.json"), "--compare", "--json"}
	c1, a, e1 := run(args...)
	c2, b, _ := run(args...)
	if c1 != 0 || c2 != 0 {
		t.Fatalf("exit %d: %s", c1, e1)
	}
	if a != b {
		t.Fatal("two runs printed different JSON")
	}
	seed := func(s string) string {
		_, out, _ := run("--env", "dev", "--trace", filepath.Join(root, "sim/traces/faults-week.json"), "--policies", "busy-flag", "--json", "--seed", s)
		return out
	}
	if seed("1") == seed("2") {
		t.Fatal("the seed changes nothing")
	}
}

func TestGivenABrokenTrace_WhenRun_ThenExit1AndEveryFieldIsNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.json")
	doc := `{"name":"bad","length":"24h","jobs":[{"id":"a","pool":"gpu","queuedAt":"-1m","duration":"5m"}],
	"faults":{"githubOutages":[{"from":"1h","to":"3h"},{"from":"2h","to":"4h"}]}}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run("--env", "dev", "--trace", path, "--policies", "managed")
	if code != ExitInput || out != "" {
		t.Fatalf("exit %d, output %q; want 1 and nothing printed", code, out)
	}
	for _, want := range []string{"jobs[0].pool", "jobs[0].queuedAt", "faults.githubOutages[1]"} {
		if !strings.Contains(errs, want) {
			t.Errorf("error lacks %s:\n%s", want, errs)
		}
	}
}

func TestGivenBadFlags_WhenRun_ThenExit1NamingEach(t *testing.T) {
	code, _, errs := run("--policies", "magic")
	if code != ExitInput {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--env: missing", "--trace: missing", `--policies: "magic"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("error lacks %q:\n%s", want, errs)
		}
	}
	if code, _, errs := run("--env", "staging", "--trace", filepath.Join(root, "sim/traces/ops-week.json")); code != ExitInput || !strings.Contains(errs, "staging") {
		t.Errorf("unknown env: exit %d, %s", code, errs)
	}
}

func TestGivenGen_WhenRunWithTheCommittedSeed_ThenItPrintsTheCommittedTrace(t *testing.T) {
	for file, extra := range map[string][]string{"ops-week.json": nil, "faults-week.json": {"--faults"}} {
		var out, errb bytes.Buffer
		args := append([]string{"gen", "--seed", "1", "--env", "dev", "--environments", filepath.Join(root, "environments")}, extra...)
		if code := Main(args, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		want, err := os.ReadFile(filepath.Join(root, "sim/traces", file))
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != string(want) {
			t.Errorf("sim/traces/%s is not what `fleetsim gen --seed 1 %s` prints; run make sim-traces", file, strings.Join(extra, " "))
		}
	}
}

func TestGivenAChart_WhenRequested_ThenAPNGIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	code, _, errs := run("--env", "dev", "--trace", filepath.Join(root, "sim/traces/ops-week.json"), "--policies", "busy-flag", "--chart", path)
	if code != 0 {
		t.Fatal(errs)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG written: %v", err)
	}
}

func TestGivenNoPolicyFlag_WhenRun_ThenTheRealControllerIsReplayed(t *testing.T) {
	code, out, errs := run("--env", "dev", "--trace", filepath.Join(root, "sim/traces/ops-week.json"), "--json")
	if code != 0 || !strings.Contains(out, `"policy": "controller"`) || strings.Contains(out, `"policy": "busy-flag"`) {
		t.Fatalf("exit %d (%s); want only the controller's run:\n%s", code, errs, out)
	}
}

func TestGivenASmallerMaxOnThisBranch_WhenDiffed_ThenTheSummaryShowsTheChange(t *testing.T) {
	head := t.TempDir()
	for _, name := range []string{"dev.json", "prod.json"} {
		b, err := os.ReadFile(filepath.Join(root, "environments", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "dev.json" {
			b = bytes.Replace(b, []byte(`"max": 10,`), []byte(`"max": 4,`), 1)
		}
		if err := os.WriteFile(filepath.Join(head, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	code := Main([]string{"diff", "--env", "dev", "--environments", head, "--base-environments", filepath.Join(root, "environments"),
		"--trace", filepath.Join(root, "sim/traces/ops-week.json")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	for _, want := range []string{"| cost USD / month |", "| jobs killed | 0 | 0 | 0 |", "<summary>base</summary>", "<summary>this branch</summary>"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// The burst of 15 jobs waits longer with 4 runners than with 10.
	if !strings.Contains(s, "| p95 queue-to-start (s, modelled) | 345 | ") || strings.Contains(s, "| p95 queue-to-start (s, modelled) | 345 | 345 |") {
		t.Errorf("p95 did not change with max 4:\n%s", s)
	}
}
