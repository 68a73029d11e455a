package test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
		got := normalize(s.raw[env], committed(t)[env].Runner.SHA256)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run `go test ./test -run Golden -update` to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s template drifted from %s; review the diff and run `go test ./test -run Golden -update` if it is intended:\n%s", env, path, lineDiff(string(want), string(got)))
		}
	}
}

func TestGivenTheSameConfig_WhenSynthesizedTwice_ThenTemplatesAreByteIdentical(t *testing.T) {
	all := committed(t)
	first := synth(t, all["dev"], all["prod"])
	second := synth(t, all["dev"], all["prod"])
	for _, env := range envNames {
		if !bytes.Equal(first.raw[env], second.raw[env]) {
			t.Errorf("%s: two synths differ:\n%s", env, lineDiff(string(first.raw[env]), string(second.raw[env])))
		}
	}
}

// lineDiff prints the lines that differ, with a little context, without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		if shown++; shown == 20 {
			b.WriteString("... (more differences)\n")
			break
		}
	}
	return b.String()
}

// buildApp compiles the CDK app once so error-path tests can run it like cdk does.
func buildApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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
		{`{"env":"dev"}`, []string{"synapse-ops-runners-dev.template.json"}},
		{`{"env":"prod"}`, []string{"synapse-ops-runners-prod.template.json"}},
		{`{}`, []string{"synapse-ops-runners-dev.template.json", "synapse-ops-runners-prod.template.json"}},
	} {
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
	}
}
