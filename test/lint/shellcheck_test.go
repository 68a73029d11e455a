package lint

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// shebangRE matches a first line that runs sh or bash, directly or through env:
// #!/bin/bash, #!/bin/sh, #!/usr/bin/env bash, #!/usr/bin/env -S bash -e, ...
var shebangRE = regexp.MustCompile(`^#!\s*(?:/usr)?(?:/local)?/bin/(?:env\s+(?:-\S+\s+)*)?(?:ba)?sh(?:\s|$)`)

// isShellScript reports whether a file is a shell script: a .sh name, or a
// bash/sh shebang on its first line.
func isShellScript(name string, firstLine []byte) bool {
	return strings.HasSuffix(name, ".sh") || shebangRE.Match(firstLine)
}

// repoFiles lists the repository's files, tracked and new (untracked but not
// ignored), so a script is checked before its first commit. Outside a Git
// checkout it walks the tree, leaving out what .gitignore would.
func repoFiles(t testing.TB, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err == nil {
		var files []string
		for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	t.Logf("git ls-files failed (%v); walking the tree instead", err)
	var files []string
	skip := map[string]bool{".git": true, "node_modules": true, "cdk.out": true}
	walkErr := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && skip[d.Name()] {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if walkErr != nil {
		t.Fatalf("walking %s: %v", root, walkErr)
	}
	return files
}

// shellScripts finds every shell script of the repository, sorted.
func shellScripts(t testing.TB, root string) []string {
	t.Helper()
	var scripts []string
	for _, rel := range repoFiles(t, root) {
		path := filepath.Join(root, rel)
		info, err := os.Lstat(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted in the working tree, still in the index
			}
			t.Fatalf("stat %s: %v", rel, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		first, err := firstLine(path)
		if err != nil {
			t.Fatalf("reading %s: %v", rel, err)
		}
		if isShellScript(rel, first) {
			scripts = append(scripts, rel)
		}
	}
	slices.Sort(scripts)
	return scripts
}

func firstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// Opened for reading: closing it cannot lose data.
	defer func() { _ = f.Close() }()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil && len(line) == 0 && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, nil // empty file
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// TestShellcheck runs shellcheck over every shell script in the repository and
// fails with each finding (all severities, style included).
func TestShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", installShellcheck)
	root := repoRoot(t)
	scripts := shellScripts(t, root)
	// Discovery must find at least the workflows' own helpers; an empty list would
	// make this test pass vacuously.
	for _, want := range []string{"scripts/read-target.sh", "scripts/check-stack-outputs.sh"} {
		if !slices.Contains(scripts, want) {
			t.Errorf("shell script discovery missed %s (found %q)", want, scripts)
		}
	}

	args := append([]string{"--format=gcc", "--external-sources"}, scripts...)
	cmd := exec.Command(shellcheck, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	findings := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if stdout.Len() == 0 {
		findings = nil
	}
	for _, f := range findings {
		t.Error(f)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1 && len(findings) > 0:
		// findings reported above
	default:
		t.Fatalf("shellcheck failed: %v: %s", err, stderr.String())
	}
	t.Logf("shellcheck checked %d scripts: %s", len(scripts), strings.Join(scripts, " "))
}

func TestIsShellScript(t *testing.T) {
	cases := []struct {
		name  string
		first string
		want  bool
	}{
		{"scripts/x.sh", "", true},
		{"boot", "#!/bin/bash", true},
		{"boot", "#!/bin/sh -e", true},
		{"boot", "#!/usr/bin/env bash", true},
		{"boot", "#! /usr/bin/env -S bash -eu", true},
		{"boot", "#!/usr/local/bin/bash", true},
		{"tool", "#!/usr/bin/env python3", false},
		{"tool", "#!/bin/bashful", false},
		{"tool", "#!/bin/zsh", false},
		{"README.md", "# bash tips", false},
		{"main.go", "package main", false},
	}
	for _, tc := range cases {
		if got := isShellScript(tc.name, []byte(tc.first)); got != tc.want {
			t.Errorf("isShellScript(%q, %q) = %v, want %v", tc.name, tc.first, got, tc.want)
		}
	}
}

// TestShellScriptDiscovery proves a script without the .sh suffix is found by its
// shebang (the runner boot script may be named either way), and that a
// non-shell file is not.
func TestShellScriptDiscovery(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":            "module example.com/x\n",
		"bin/boot":          "#!/usr/bin/env bash\necho hi\n",
		"scripts/a.sh":      "echo a\n",
		"tools/gen.py":      "#!/usr/bin/env python3\n",
		"docs/readme.md":    "# title\n",
		"empty":             "",
		"node_modules/x.sh": "echo vendored\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a Git checkout: exercises the walking fallback, which skips node_modules.
	got := shellScripts(t, root)
	want := []string{"bin/boot", "scripts/a.sh"}
	if !slices.Equal(got, want) {
		t.Errorf("shellScripts = %q, want %q", got, want)
	}
}
