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

// BuildDir is where BuildBinary puts the binary, relative to the module root:
// inside the CDK output directory (cdk.out, ignored by git and removed by
// make clean), one fixed place reused by every synth instead of a new
// temporary directory each time.
var BuildDir = filepath.Join("cdk.out", ".fleet-controller-build")

// BuildBinary cross-compiles the controller for linux/arm64 with `go build`
// (no Docker) into BuildDir and returns that directory. The build is
// reproducible (-trimpath, no VCS stamping), so the asset hash, and so the
// template, only changes when the controller's code does. It builds into a
// file of its own and renames it into place, so concurrent synths (parallel
// test packages) never read a half-written binary. Results are cached per process.
func BuildBinary(moduleRoot string) (string, error) {
	v, _ := buildOnce.LoadOrStore(moduleRoot, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir := filepath.Join(moduleRoot, BuildDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.err = err
			return
		}
		tmp, err := os.CreateTemp(dir, BinaryName+".*.partial")
		if err != nil {
			r.err = err
			return
		}
		_ = tmp.Close()
		defer func() { _ = os.Remove(tmp.Name()) }()
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
			"-o", tmp.Name(), BinaryPackage)
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			r.err = fmt.Errorf("building the fleet controller (go build %s): %w\n%s", BinaryPackage, err, strings.TrimSpace(string(out)))
			return
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, BinaryName)); err != nil {
			r.err = err
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
