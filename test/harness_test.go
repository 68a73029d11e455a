package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/stacks"
)

// envConfig is the config type tests mutate.
type envConfig = config.Environment

// envNames are the committed environments every template test runs over.
var envNames = []string{"dev", "prod"}

// committed loads the committed environment files, as the app does.
func committed(t testing.TB) map[string]config.Environment {
	t.Helper()
	envs, err := config.LoadDir(filepath.Join("..", config.DefaultDir))
	if err != nil {
		t.Fatalf("committed config does not load: %v", err)
	}
	out := map[string]config.Environment{}
	for _, e := range envs {
		out[e.Name] = e
	}
	return out
}

// synthesized is one app with a stack per given environment, synthesized once.
type synthesized struct {
	stacks    map[string]*stacks.RunnerStack
	templates map[string]map[string]any
	raw       map[string][]byte
}

var (
	committedOnce sync.Once
	committedApp  *synthesized
)

// committedStacks synthesizes the committed dev and prod stacks once per test binary.
func committedStacks(t testing.TB) *synthesized {
	t.Helper()
	committedOnce.Do(func() {
		var list []config.Environment
		for _, name := range envNames {
			list = append(list, committed(t)[name])
		}
		// The cdk-nag packs run on this one synth too: they only add
		// annotations, so the templates are those of a plain synth (the
		// determinism test compares them with one).
		committedApp = synthWith(t, withNagPacks, list...)
	})
	if committedApp == nil {
		t.Fatal("synth of the committed environments failed earlier")
	}
	return committedApp
}

// synth builds one app holding a stack per environment and synthesizes it into
// a temporary directory, as `cdk synth` would.
func synth(t testing.TB, envs ...config.Environment) *synthesized {
	t.Helper()
	return synthWith(t, nil, envs...)
}

// withNagPacks adds the cdk-nag packs the design requires to an app.
func withNagPacks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewHIPAASecurityChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewNIST80053R5Checks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// synthWith is synth with a change to the app (aspects) before synthesis.
func synthWith(t testing.TB, prepare func(awscdk.App), envs ...config.Environment) *synthesized {
	t.Helper()
	outdir, err := os.MkdirTemp("", "synapse-ops-runners-synth-")
	if err != nil {
		t.Fatal(err)
	}
	ctx := cdkContext(t)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &ctx})
	s := &synthesized{stacks: map[string]*stacks.RunnerStack{}, templates: map[string]map[string]any{}, raw: map[string][]byte{}}
	for _, e := range envs {
		s.stacks[e.Name] = stacks.NewRunnerStack(app, stacks.RunnerStackProps{
			Environment:         e,
			ControllerBinaryDir: prebuiltControllerDir(),
		})
	}
	if prepare != nil {
		prepare(app)
	}
	app.Synth(nil)
	for _, e := range envs {
		data, err := os.ReadFile(filepath.Join(outdir, e.StackName()+".template.json"))
		if err != nil {
			t.Fatal(err)
		}
		var tpl map[string]any
		if err := json.Unmarshal(data, &tpl); err != nil {
			t.Fatal(err)
		}
		s.raw[e.Name] = data
		s.templates[e.Name] = tpl
	}
	return s
}

// template returns the assertions view of one environment's stack.
func (s *synthesized) template(env string) assertions.Template {
	tpl := s.templates[env]
	return assertions.Template_FromJSON(&tpl, &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
}

// resources lists the template's resources of one type, by logical id.
func (s *synthesized) resources(env, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.templates[env]["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// asList turns a JSON value that may be a single item or a list into a list.
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

func jsonString(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prebuiltControllerDir is empty unless SYNAPSE_CONTROLLER_BINARY_DIR names a
// directory with a built controller; when empty, synth builds the real binary
// with go build (once per test binary).
func prebuiltControllerDir() string { return os.Getenv("SYNAPSE_CONTROLLER_BINARY_DIR") }
