package test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// cdkContext is the context of cdk.json, feature flags included, which the
// CDK CLI hands the app. The test apps get the same, so the golden templates
// are what `cdk synth` writes.
func cdkContext(t testing.TB) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return doc.Context
}

// flagChoices are the flags cdk.json sets to something other than aws-cdk-lib's
// recommendation, each with the reason. Every other recommended flag is set to
// the recommended value.
var flagChoices = map[string]struct {
	value  any
	reason string
}{
	"@aws-cdk/core:target-partitions": {[]any{"aws"}, "both accounts are in the commercial partition; no lookup table for aws-cn is wanted"},
}

// recommendedFlags reads recommended-feature-flags.json from the aws-cdk-lib
// tarball that the pinned aws-cdk-go module embeds.
func recommendedFlags(t *testing.T) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-cdk-go/awscdk/v2").Output()
	if err != nil {
		t.Fatalf("go list -m awscdk: %v", err)
	}
	tgzs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "jsii", "aws-cdk-lib-*.tgz"))
	if len(tgzs) != 1 {
		t.Fatalf("aws-cdk-lib tarball not found in the awscdk module: %v", tgzs)
	}
	f, err := os.Open(tgzs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("recommended-feature-flags.json is not in the aws-cdk-lib tarball")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "package/recommended-feature-flags.json" {
			var flags map[string]any
			if err := json.NewDecoder(tr).Decode(&flags); err != nil {
				t.Fatal(err)
			}
			return flags
		}
	}
}

// TestCdkJsonSetsEveryRecommendedFlag: cdk.json sets every feature flag the
// pinned aws-cdk-lib recommends (what `cdk flags` reports as unconfigured), to
// the recommended value or to a choice listed in flagChoices with its reason. A
// CDK upgrade that adds a flag fails here until the flag is chosen.
func TestCdkJsonSetsEveryRecommendedFlag(t *testing.T) {
	ctx := cdkContext(t)
	rec := recommendedFlags(t)
	if len(rec) < 60 {
		t.Fatalf("only %d recommended flags read; the tarball layout changed?", len(rec))
	}
	for _, name := range slices.Sorted(maps.Keys(rec)) {
		want := rec[name]
		if c, ok := flagChoices[name]; ok {
			want = c.value
		}
		got, ok := ctx[name]
		switch {
		case !ok:
			t.Errorf("cdk.json does not set %s (recommended: %v); set it, or list a different choice and its reason in flagChoices", name, rec[name])
		case !reflect.DeepEqual(got, want):
			t.Errorf("cdk.json sets %s to %v, want %v", name, got, want)
		}
	}
	for name := range flagChoices {
		if _, ok := rec[name]; !ok {
			t.Errorf("flagChoices lists %s, which aws-cdk-lib no longer recommends", name)
		}
	}
}
