package runnerpool

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The boot-script harness runs boot.sh for real under bash, as systemd would,
// with fakes first on PATH for everything that reaches outside the instance:
// aws (SSM parameters, Auto Scaling, EC2 tags), curl (the instance metadata
// endpoint and the runner download), dnf, systemctl, runuser, useradd and
// friends, shutdown and sleep. sha256sum and tar are the real tools behind a
// wrapper that records the call, so a checksum mismatch is a real one.
//
// The script's absolute paths (/opt, /var/log, /home, /tmp) are rewritten into
// a temporary root, so it runs unprivileged and a test can read every file it
// wrote. Every fake appends one line to an event log (`name args...`, plus a
// result for SSM reads), which is how tests assert order: "the parameter is
// deleted before run.sh starts" is an index comparison.
//
// To extend it: add a field to bootScenario, teach the fake in fakeScripts to
// read it (through a file in the state directory or an environment variable),
// and assert on bootRun. An aws call the fake does not know fails loudly
// naming itself, so a new call in boot.sh needs a fake here first.

// bootScenario describes the world the boot script runs in.
type bootScenario struct {
	// Jit is the JIT config the controller stored for the instance ("" means
	// the controller never writes one).
	Jit string
	// JitNotFoundFirst is how many reads answer ParameterNotFound before the
	// parameter appears (the controller is slower than the boot).
	JitNotFoundFirst int
	// WaitSeconds overrides JIT_WAIT_SECONDS (default 10).
	WaitSeconds int
	// WrongChecksum makes RUNNER_FLOOR_SHA256 differ from the downloaded archive's.
	WrongChecksum bool
	// RunnerExit is run.sh's exit status.
	RunnerExit int
	// DnfFails makes the package install fail.
	DnfFails bool
	// TargetState is what the metadata endpoint answers for
	// autoscaling/target-lifecycle-state (default InService).
	TargetState string
	// Env overrides or adds settings of runner.env.
	Env map[string]string
}

// bootRun is one finished run of boot.sh.
type bootRun struct {
	t              *testing.T
	sc             bootScenario
	root, state    string
	env            map[string]string
	stdout, stderr string
	code           int
	elapsed        time.Duration
	events         []string
}

const (
	fakeInstanceID = "i-0123456789abcdef0"
	fakeIMDSToken  = "fake-imds-token"
)

// bootProps are the pool settings the harness renders user data for.
func bootProps() Props {
	p := exampleProps()
	p.Pool.Packages = []string{"git", "jq"}
	return p
}

// runBoot runs boot.sh once in a fresh world.
func runBoot(t *testing.T, sc bootScenario) *bootRun {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	realTools := map[string]string{}
	for _, tool := range []string{"sha256sum", "tar"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not installed", tool)
		}
		realTools[tool] = p
	}
	base := t.TempDir()
	r := &bootRun{t: t, sc: sc, root: filepath.Join(base, "root"), state: filepath.Join(base, "state")}
	bin := filepath.Join(base, "bin")
	for _, d := range []string{r.root, r.state, bin, filepath.Join(r.state, "ssm"), filepath.Join(r.root, "tmp"), filepath.Join(r.root, "home"), filepath.Join(r.root, "var/log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	r.env = userDataEnv(t, UserData(bootProps()))
	archive := runnerArchive(t, realTools["sha256sum"])
	sum := sha256.Sum256(archive)
	// No release is published in this world, so fetch-runner.sh uses the floor.
	r.env["RUNNER_FLOOR_SHA256"] = hex.EncodeToString(sum[:])
	if sc.WrongChecksum {
		r.env["RUNNER_FLOOR_SHA256"] = strings.Repeat("0", 64)
	}
	r.env["JIT_WAIT_SECONDS"] = "10"
	if sc.WaitSeconds > 0 {
		r.env["JIT_WAIT_SECONDS"] = fmt.Sprint(sc.WaitSeconds)
	}
	for k, v := range sc.Env {
		r.env[k] = v
	}

	write := func(path, content string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(r.state, "runner.tar.gz"), string(archive), 0o644)
	if sc.Jit != "" {
		write(r.ssmPath(r.jitName()), sc.Jit, 0o600)
		write(r.ssmPath(r.jitName())+".notfound-first", fmt.Sprint(sc.JitNotFoundFirst), 0o600)
	}
	target := sc.TargetState
	if target == "" {
		target = "InService"
	}
	write(filepath.Join(r.state, "target-lifecycle-state"), target, 0o644)
	if sc.RunnerExit != 0 {
		write(filepath.Join(r.state, "runner-exit"), fmt.Sprint(sc.RunnerExit), 0o644)
	}
	if sc.DnfFails {
		write(filepath.Join(r.state, "dnf-fails"), "", 0o644)
	}
	for name, body := range fakeScripts(realTools) {
		write(filepath.Join(bin, name), body, 0o755)
	}

	write(filepath.Join(r.root, "opt/synapse-ops-runners/fetch-runner.sh"), shipped(fetchRunnerScript), 0o755)
	script := filepath.Join(base, "boot.sh")
	write(script, rootedPaths(shipped(bootScript), r.root), 0o755)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, script)
	cmd.Dir = base
	cmd.Env = []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + filepath.Join(base, "roothome"),
		"LC_ALL=C",
		"FAKE_STATE=" + r.state,
		"FAKE_ROOT=" + r.root,
	}
	for _, k := range slices.Sorted(maps.Keys(r.env)) {
		cmd.Env = append(cmd.Env, k+"="+r.env[k])
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r.elapsed = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("running boot.sh: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("boot.sh did not finish in 60s:\n%s", r.stdout)
	}
	if data, err := os.ReadFile(filepath.Join(r.state, "events")); err == nil {
		r.events = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	}
	return r
}

// userDataEnv reads the settings the user data writes to runner.env.
func userDataEnv(t *testing.T, userData string) map[string]string {
	t.Helper()
	_, rest, ok := strings.Cut(userData, "<<'ENV'\n")
	body, _, ok2 := strings.Cut(rest, "\nENV\n")
	if !ok || !ok2 {
		t.Fatal("user data has no runner.env heredoc")
	}
	env := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("runner.env line %q is not NAME=value", line)
		}
		env[k] = strings.Trim(v, `"`)
	}
	return env
}

// rootedPaths moves the script's absolute paths under root.
func rootedPaths(script, root string) string {
	return regexp.MustCompile(`/(opt|var/log|home|tmp)/`).ReplaceAllString(script, root+"/$1/")
}

// runnerArchive is a runner release with a run.sh that records how it was
// started: the SHA-256 of the JIT config it received (never the value), and
// a line in the runner's diagnostic log as the real runner writes one.
func runnerArchive(t *testing.T, sha256sum string) []byte {
	t.Helper()
	runSh := `#!/bin/bash
printf 'run.sh %s\n' "$*" >>"${FAKE_STATE}/events"
printf '%s' "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" | ` + sha256sum + ` | cut -d' ' -f1 >"${FAKE_STATE}/runner-jit.sha256"
mkdir -p _diag
echo "[RUNNER] Listening for Jobs" >>_diag/Runner_20260101-000000-utc.log
exit "$(cat "${FAKE_STATE}/runner-exit" 2>/dev/null || echo 0)"
`
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{"run.sh": runSh, "config.sh": "#!/bin/bash\nexit 0\n"} {
		if err := tw.WriteHeader(&tar.Header{Name: "./" + name, Mode: 0o755, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeScripts are the commands put first on PATH. Each records its call in
// $FAKE_STATE/events. The SSM parameter store is a directory: a parameter is
// the file $FAKE_STATE/ssm/<name>.
func fakeScripts(real map[string]string) map[string]string {
	const head = "#!/bin/bash\nset -u\nev() { printf '%s\\n' \"$*\" >>\"${FAKE_STATE}/events\"; }\n"
	return map[string]string{
		"aws": head + `
name=""; args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[i]}" == --name ]] && name=${args[i+1]}
done
notfound() {
  echo "An error occurred (ParameterNotFound) when calling the $1 operation: " >&2
  exit 254
}
case "$1 $2" in
  "ssm get-parameter")
    f="${FAKE_STATE}/ssm${name}"
    if [[ -f "${f}.notfound-first" ]]; then
      left=$(cat "${f}.notfound-first")
      if ((left > 0)); then
        echo $((left - 1)) >"${f}.notfound-first"
        ev "aws ssm get-parameter --name ${name} => ParameterNotFound"
        notfound GetParameter
      fi
    fi
    if [[ ! -f "${f}" ]]; then
      ev "aws ssm get-parameter --name ${name} => ParameterNotFound"
      notfound GetParameter
    fi
    ev "aws ssm get-parameter --name ${name} => value"
    cat "${f}"; echo ;;
  "ssm delete-parameter")
    f="${FAKE_STATE}/ssm${name}"
    if [[ ! -f "${f}" ]]; then
      ev "aws ssm delete-parameter --name ${name} => ParameterNotFound"
      notfound DeleteParameter
    fi
    rm -f "${f}" "${f}.notfound-first"
    ev "aws ssm delete-parameter --name ${name}" ;;
  "autoscaling terminate-instance-in-auto-scaling-group" | "ec2 create-tags")
    ev "aws $*" ;;
  *)
    ev "aws $* => no fake"
    echo "fake aws: no fake for 'aws $1 $2'; add one in bootharness_test.go" >&2
    exit 2 ;;
esac
`,
		"curl": head + `
url=""; out=""; args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -o) out=${args[i+1]} ;;
    http://* | https://*) url=${args[i]} ;;
  esac
done
case "${url}" in
  http://169.254.169.254/latest/api/token) ev "imds token"; echo "` + fakeIMDSToken + `" ;;
  http://169.254.169.254/latest/meta-data/instance-id) ev "imds instance-id"; echo "` + fakeInstanceID + `" ;;
  http://169.254.169.254/latest/meta-data/autoscaling/target-lifecycle-state)
    ev "imds target-lifecycle-state"; cat "${FAKE_STATE}/target-lifecycle-state" ;;
  https://github.com/actions/runner/releases/download/*)
    ev "curl download ${url}"; cp "${FAKE_STATE}/runner.tar.gz" "${out}" ;;
  *) ev "curl ${url} => no fake"; echo "fake curl: no fake for ${url}" >&2; exit 22 ;;
esac
`,
		"sha256sum": head + `ev "sha256sum $*"` + "\nexec " + real["sha256sum"] + ` "$@"` + "\n",
		"tar":       head + `ev "tar $*"` + "\nexec " + real["tar"] + ` "$@"` + "\n",
		"dnf": head + `
ev "dnf $*"
[[ -f "${FAKE_STATE}/dnf-fails" ]] && { echo "fake dnf: Error: Unable to find a match" >&2; exit 1; }
if [[ " $* " == *" amazon-cloudwatch-agent "* ]]; then
  ctl="${FAKE_ROOT}/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
  mkdir -p "$(dirname "${ctl}")"
  cat >"${ctl}" <<'CTL'
#!/bin/bash
printf 'agent-ctl %s\n' "$*" >>"${FAKE_STATE}/events"
[[ " $* " == *" -s "* ]] && touch "${FAKE_STATE}/agent-running"
exit 0
CTL
  chmod +x "${ctl}"
fi
`,
		"systemctl": head + `
ev "systemctl $*"
case "$1" in
  is-active) [[ -f "${FAKE_STATE}/agent-running" ]] ;;
  stop) rm -f "${FAKE_STATE}/agent-running" ;;
esac
`,
		"runuser": head + `
ev "runuser $*"
while (($# > 0)) && [[ "$1" != -- ]]; do shift; done
shift
exec "$@"
`,
		"id":       head + `ev "id $*"; exit 1` + "\n",
		"useradd":  head + `ev "useradd $*"` + "\n",
		"usermod":  head + `ev "usermod $*"` + "\n",
		"chown":    head + `ev "chown $*"` + "\n",
		"shutdown": head + `ev "shutdown $*"` + "\n",
		// The JIT wait loop sleeps between reads; a test waits 0.1s instead.
		"sleep": head + `ev "sleep $*"; exec ` + "/bin/sleep 0.1\n",
	}
}

// jitName is the SSM parameter of this instance's JIT config.
func (r *bootRun) jitName() string { return r.env["JIT_PARAMETER_PREFIX"] + fakeInstanceID }

func (r *bootRun) ssmPath(name string) string { return filepath.Join(r.state, "ssm", name) }

// index is the position of the first event starting with prefix, or -1.
func (r *bootRun) index(prefix string) int {
	return slices.IndexFunc(r.events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

// lastIndex is the position of the last event starting with prefix, or -1.
func (r *bootRun) lastIndex(prefix string) int {
	for i := len(r.events) - 1; i >= 0; i-- {
		if strings.HasPrefix(r.events[i], prefix) {
			return i
		}
	}
	return -1
}

// count is how many events start with prefix.
func (r *bootRun) count(prefix string) int {
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// bootLog is the boot log the script wrote.
func (r *bootRun) bootLog() string {
	data, _ := os.ReadFile(filepath.Join(r.root, "var/log/synapse-ops-runners-boot.log"))
	return string(data)
}

// shippedFiles are the files the CloudWatch agent configuration collects, as
// they are at the end of the run (nil when the agent was never configured).
func (r *bootRun) shippedFiles() map[string]string {
	data, err := os.ReadFile(filepath.Join(r.root, "opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"))
	if err != nil {
		return nil
	}
	var cfg struct {
		Logs struct {
			LogsCollected struct {
				Files struct {
					CollectList []struct {
						FilePath string `json:"file_path"`
					} `json:"collect_list"`
				} `json:"files"`
			} `json:"logs_collected"`
		} `json:"logs"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		r.t.Fatalf("agent configuration is not JSON: %v\n%s", err, data)
	}
	out := map[string]string{}
	for _, c := range cfg.Logs.LogsCollected.Files.CollectList {
		matches, _ := filepath.Glob(c.FilePath)
		out[c.FilePath] = ""
		for _, m := range matches {
			content, _ := os.ReadFile(m)
			out[c.FilePath] += string(content)
		}
	}
	return out
}

// files returns every regular file under the fake root with its content.
func (r *bootRun) files() map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(r.root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(path)
			out[strings.TrimPrefix(path, r.root)] = string(data)
		}
		return nil
	})
	return out
}

// dump is what a failing test shows: exit status, events and output.
func (r *bootRun) dump() string {
	return fmt.Sprintf("exit %d after %s\nevents:\n  %s\noutput:\n%s%s", r.code, r.elapsed.Round(time.Millisecond),
		strings.Join(r.events, "\n  "), r.stdout, r.stderr)
}
