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
