package fleetcontroller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildBinaryLeavesNothingInTheSystemTempDir: every synth used to leave a
// 13 MB directory there. The binary goes to one fixed place under cdk.out.
func TestBuildBinaryLeavesNothingInTheSystemTempDir(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the controller")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := BuildBinary(root)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(root, BuildDir) {
		t.Fatalf("built into %s, want %s", dir, filepath.Join(root, BuildDir))
	}
	if fi, err := os.Stat(filepath.Join(dir, BinaryName)); err != nil || fi.Size() == 0 {
		t.Fatalf("binary: %v", err)
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "fleet-controller") {
			t.Fatalf("left in the temp dir: %s", e.Name())
		}
	}
	partial, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
	if len(partial) != 0 {
		t.Fatalf("partial builds left: %v", partial)
	}
}
