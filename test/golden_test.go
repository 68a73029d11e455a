package test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden templates in test/testdata")

// assetHash matches content hashes of assets (the controller binary changes
// with every controller commit); the golden files hold a fixed marker instead
// so they change only when the infrastructure does.
var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// The configured runner checksums are real content and stay in the golden files.
func normalize(template []byte, keep ...string) []byte {
	return assetHash.ReplaceAllFunc(template, func(h []byte) []byte {
		for _, k := range keep {
			if string(h) == k {
				return h
			}
		}
		return []byte("<asset-hash>")
	})
}

func TestGivenCommittedConfig_ThenTemplatesMatchTheGoldenFiles(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		path := filepath.Join("testdata", env+".template.json")
		got := normalize(s.raw[env], committed(t)[env].Runner.MinimumSHA256, committed(t)[env].Runner.SHA256)
		want, err := os.ReadFile(path)
		if err != nil && (!*update || !errors.Is(err, os.ErrNotExist)) {
			t.Fatalf("%v (run `make golden` to create it)", err)
		}
		diff := templateDiff(env, want, got)
		if *update {
			if diff != "" {
				// `make golden` runs with -v, so whoever accepts the change reads it.
				t.Logf("accepting into %s:\n%s", path, diff)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if diff != "" {
			t.Errorf("%s template drifted from %s; review the diff and run `make golden` if it is intended:\n%s", env, path, diff)
		}
	}
}

// One more synth, compared with the shared one: synth must be deterministic
// for cdk diff in review to show only real changes.
func TestGivenTheSameConfig_WhenSynthesizedTwice_ThenTemplatesAreByteIdentical(t *testing.T) {
	all := committed(t)
	first := committedStacks(t)
	second := synth(t, all["dev"], all["prod"])
	for _, env := range envNames {
		if diff := templateDiff(env, first.raw[env], second.raw[env]); diff != "" {
			t.Errorf("%s: two synths differ:\n%s", env, diff)
		}
	}
}

var (
	appOnce sync.Once
	appBin  string
	appErr  error
)

// buildApp compiles the CDK app once per test binary so the tests can run it
// as cdk does.
func buildApp(t *testing.T) string {
	t.Helper()
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "synapse-ops-runners-app-")
		if err != nil {
			appErr = err
			return
		}
		appBin = filepath.Join(dir, "app")
		if out, err := exec.Command("go", "build", "-o", appBin, "..").CombinedOutput(); err != nil {
			appErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appBin
}

func TestGivenBadInput_WhenTheAppRuns_ThenItNamesTheProblemAndBuildsNoStack(t *testing.T) {
	bin := buildApp(t)
	badDir := t.TempDir()
	dev, err := os.ReadFile(filepath.Join("..", "environments", "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(dev), `"account": "449435941126"`, `"account": "4494"`, 1)
	bad = strings.Replace(bad, `"max": 10`, `"max": -1`, 1)
	if err := os.WriteFile(filepath.Join(badDir, "dev.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		context string
		want    []string
	}{
		{"unknown env", `{"env":"staging"}`, []string{`env: "staging" is not a configured environment; use --context env=<name> with one of: dev, prod`}},
		{"missing config dir", `{"config-dir":"does-not-exist"}`, []string{"no environment files in does-not-exist"}},
		{"invalid fields", fmt.Sprintf(`{"config-dir":%q}`, badDir), []string{
			`dev: account: "4494" is not a 12-digit AWS account id`,
			`dev: pools[0].max: min 0 and max -1 must satisfy 0 <= min and 1 <= max`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // separate processes: each starts its own jsii runtime
			out := t.TempDir()
			cmd := exec.Command(bin)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+tc.context, "CDK_OUTDIR="+out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("exit status 0, want non-zero")
			}
			msg := stderr.String()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr lacks %q:\n%s", w, msg)
				}
			}
			for _, trace := range []string{"goroutine ", "panic:", "jsii", "at Object."} {
				if strings.Contains(msg, trace) {
					t.Errorf("stderr shows a stack trace (%q):\n%s", trace, msg)
				}
			}
			if entries, _ := filepath.Glob(filepath.Join(out, "*.template.json")); len(entries) != 0 {
				t.Errorf("templates were written: %v", entries)
			}
		})
	}
}

func TestGivenAnEnvContext_WhenTheAppRuns_ThenOnlyThatStackIsSynthesized(t *testing.T) {
	bin := buildApp(t)
	for _, tc := range []struct {
		context string
		want    []string
	}{
		// config.Select's own tests cover every name; these two runs show that
		// main passes the context through (each run starts a jsii runtime).
		{`{"env":"prod"}`, []string{"synapse-ops-runners-prod.template.json"}},
		{`{}`, []string{"synapse-ops-runners-dev.template.json", "synapse-ops-runners-prod.template.json"}},
	} {
		t.Run(tc.context, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			cmd := exec.Command(bin)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+tc.context, "CDK_OUTDIR="+out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.context, err, msg)
			}
			got, _ := filepath.Glob(filepath.Join(out, "*.template.json"))
			var names []string
			for _, g := range got {
				names = append(names, filepath.Base(g))
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("context %s: templates %v, want %v", tc.context, names, tc.want)
			}
		})
	}
}
