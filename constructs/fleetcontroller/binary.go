package fleetcontroller

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// BinaryPackage is the Go package of the controller binary, relative to the module root.
const BinaryPackage = "./controller/cmd/fleet-controller"

// BinaryName is the file name of the built binary inside the asset directory.
const BinaryName = "fleet-controller"

var (
	buildOnce sync.Map // module root -> *buildResult
)

type buildResult struct {
	once sync.Once
	dir  string
	err  error
}

// BuildBinary cross-compiles the controller for linux/arm64 with `go build`
// (no Docker) into a fresh directory and returns it. The build is reproducible
// (-trimpath, no VCS stamping), so the asset hash, and so the template, only
// changes when the controller's code does. Results are cached per process.
func BuildBinary(moduleRoot string) (string, error) {
	v, _ := buildOnce.LoadOrStore(moduleRoot, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir, err := os.MkdirTemp("", "fleet-controller-asset-")
		if err != nil {
			r.err = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
			"-o", filepath.Join(dir, BinaryName), BinaryPackage)
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			r.err = fmt.Errorf("building the fleet controller (go build %s): %w\n%s", BinaryPackage, err, strings.TrimSpace(string(out)))
			return
		}
		r.dir = dir
	})
	return r.dir, r.err
}

// ModuleRoot finds the directory holding go.mod, starting at dir and going up.
func ModuleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", abs)
		}
	}
}
