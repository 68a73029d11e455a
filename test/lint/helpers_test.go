package lint

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// coreRepository is the repository whose reusable workflows the callers use.
// This repository plays its part.
const coreRepository = "Sage-Bionetworks/synapse-ops-core"

// repoRoot finds the module root from the test's working directory, so the tests
// run the same from `go test ./...` and from inside test/lint.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/Sage-Bionetworks/synapse-ops-runners") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the module root (go.mod of synapse-ops-runners) above the working directory")
		}
		dir = parent
	}
}

// requireTool returns the path of an external tool. A missing tool fails the
// test when CI is set (CI must install it) and skips it otherwise, saying how
// to install it.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed but CI is set: %s", name, install)
	}
	t.Skipf("%s is not installed (%s); skipping. CI fails here instead.", name, install)
	return ""
}

const (
	installShellcheck = "apt-get install -y shellcheck"
	installJq         = "apt-get install -y jq"
)

// workflowFiles lists the repository's workflows and the caller examples, as
// paths relative to root, sorted.
func workflowFiles(t testing.TB, root string) []string {
	t.Helper()
	var files []string
	isYAML := func(name string) bool {
		return strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")
	}
	entries, err := os.ReadDir(filepath.Join(root, ".github", "workflows"))
	if err != nil {
		t.Fatalf("listing .github/workflows: %v", err)
	}
	for _, e := range entries {
		if !e.IsDir() && isYAML(e.Name()) {
			files = append(files, filepath.Join(".github", "workflows", e.Name()))
		}
	}
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isYAML(d.Name()) {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("listing examples: %v", err)
	}
	slices.Sort(files)
	return files
}

// parsedWorkflow is one workflow file and its actionlint syntax tree.
type parsedWorkflow struct {
	Path string // relative to the repository root
	WF   *actionlint.Workflow
	Src  []byte // the file as written (comments included)
}

// isExample reports whether the workflow is a caller example (kept by the ops
// repositories) rather than one of this repository's own workflows.
func (p parsedWorkflow) isExample() bool {
	return strings.HasPrefix(filepath.ToSlash(p.Path), "examples/")
}

// parseWorkflows parses every workflow with actionlint's parser. Syntax errors
// fail the test: the other checks need a tree.
func parseWorkflows(t testing.TB) []parsedWorkflow {
	t.Helper()
	root := repoRoot(t)
	var out []parsedWorkflow
	for _, rel := range workflowFiles(t, root) {
		src, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatalf("reading %s: %v", rel, err)
		}
		wf, errs := actionlint.Parse(src)
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s", rel, e.Line, e.Column, e.Message)
		}
		if wf == nil {
			t.Fatalf("%s: cannot parse", rel)
		}
		out = append(out, parsedWorkflow{Path: filepath.ToSlash(rel), WF: wf, Src: src})
	}
	if len(out) == 0 {
		t.Fatal("no workflows found")
	}
	return out
}

// ownWorkflow returns the parsed workflow .github/workflows/<name>.
func ownWorkflow(t testing.TB, all []parsedWorkflow, name string) *actionlint.Workflow {
	t.Helper()
	for _, p := range all {
		if p.Path == ".github/workflows/"+name {
			return p.WF
		}
	}
	t.Fatalf(".github/workflows/%s does not exist", name)
	return nil
}

// job returns a job by id or fails.
func job(t testing.TB, wf *actionlint.Workflow, id string) *actionlint.Job {
	t.Helper()
	j, ok := wf.Jobs[strings.ToLower(id)]
	if !ok {
		t.Fatalf("workflow %q has no job %q", str(wf.Name), id)
	}
	return j
}

// stepRun returns the run script of the job's step with the given name.
func stepRun(t testing.TB, j *actionlint.Job, name string) (*actionlint.Step, string) {
	t.Helper()
	for _, s := range j.Steps {
		if str(s.Name) != name {
			continue
		}
		run, ok := s.Exec.(*actionlint.ExecRun)
		if !ok || run.Run == nil {
			t.Fatalf("step %q of job %q is not a run step", name, str(j.ID))
		}
		return s, run.Run.Value
	}
	t.Fatalf("job %q has no step named %q", str(j.ID), name)
	return nil, ""
}

// stepEnv returns a step's literal env values by name.
func stepEnv(s *actionlint.Step) map[string]string {
	env := map[string]string{}
	if s.Env != nil {
		for _, v := range s.Env.Vars {
			env[v.Name.Value] = str(v.Value)
		}
	}
	return env
}

// str reads an optional actionlint string.
func str(s *actionlint.String) string {
	if s == nil {
		return ""
	}
	return s.Value
}

// stepUses is the action a step uses, or "" for a run step.
func stepUses(s *actionlint.Step) string {
	if a, ok := s.Exec.(*actionlint.ExecAction); ok {
		return str(a.Uses)
	}
	return ""
}

// stepWith is an action step's input by name ("" when absent).
func stepWith(s *actionlint.Step, name string) string {
	a, ok := s.Exec.(*actionlint.ExecAction)
	if !ok {
		return ""
	}
	if in, ok := a.Inputs[strings.ToLower(name)]; ok {
		return str(in.Value)
	}
	return ""
}

// environments loads the committed environment configuration.
func environments(t testing.TB) []config.Environment {
	t.Helper()
	envs, err := config.LoadDir(filepath.Join(repoRoot(t), config.DefaultDir))
	if err != nil {
		t.Fatalf("loading environments: %v", err)
	}
	return envs
}
