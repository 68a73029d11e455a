package runnerpool

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A JIT config as the controller stores it: base64 of a JSON document. The
// marker makes any leak easy to find.
const fakeJit = "ZmFrZS1qaXQtY29uZmlnLWxlYWstbWFya2VyLTAxMjM0NTY3ODk="

// assertLeftTheGroup: the instance removed itself with the desired capacity
// decremented, then scheduled its own shutdown as the fallback.
func assertLeftTheGroup(t *testing.T, r *bootRun) {
	t.Helper()
	leave := r.index("aws autoscaling terminate-instance-in-auto-scaling-group --instance-id " + fakeInstanceID + " --should-decrement-desired-capacity")
	if leave < 0 {
		t.Errorf("the instance did not leave its group with --should-decrement-desired-capacity\n%s", r.dump())
	}
	if down := r.lastIndex("shutdown -h"); down < leave {
		t.Errorf("no shutdown after leaving the group (fallback if the call failed)\n%s", r.dump())
	}
}

// assertShippedLogs: the CloudWatch agent was configured with the boot log
// and started, then stopped (which flushes what it holds) after the last
// script step before leaving the group.
func assertShippedLogs(t *testing.T, r *bootRun) {
	t.Helper()
	start := r.index("agent-ctl -a fetch-config")
	if start < 0 || !strings.Contains(r.events[start], " -s") {
		t.Errorf("the CloudWatch agent was never configured and started\n%s", r.dump())
		return
	}
	if _, ok := r.shippedFiles()[filepath.Join(r.root, "var/log/synapse-ops-runners-boot.log")]; !ok {
		t.Errorf("the agent does not collect the boot log: %v", r.shippedFiles())
	}
	// Stopping flushes; it must come once, after everything but leaving.
	flush := r.index("systemctl stop amazon-cloudwatch-agent")
	if flush < start || r.count("systemctl stop amazon-cloudwatch-agent") != 1 {
		t.Errorf("the agent was not stopped (flushed) exactly once after it started\n%s", r.dump())
		return
	}
	for _, e := range r.events[flush+1:] {
		if !strings.HasPrefix(e, "aws autoscaling terminate-instance-in-auto-scaling-group") && !strings.HasPrefix(e, "shutdown") {
			t.Errorf("%q happened after the logs were flushed, so it is not shipped\n%s", e, r.dump())
		}
	}
}

// assertJitNeverShown: the JIT value is in no output, no log, no shipped file
// and no file the script wrote.
func assertJitNeverShown(t *testing.T, r *bootRun) {
	t.Helper()
	for where, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "boot log": r.bootLog(), "events (command lines)": strings.Join(r.events, "\n")} {
		if strings.Contains(text, fakeJit) {
			t.Errorf("the JIT config reached the %s", where)
		}
	}
	for path, content := range r.shippedFiles() {
		if strings.Contains(content, fakeJit) {
			t.Errorf("the JIT config is in shipped log %s", path)
		}
	}
	for path, content := range r.files() {
		if strings.Contains(content, fakeJit) {
			t.Errorf("the JIT config was written to %s", path)
		}
	}
}

func TestGivenAJitConfig_WhenTheInstanceBoots_ThenItVerifiesInstallsReadsDeletesRunsOnceAndLeaves(t *testing.T) {
	t.Parallel()
	r := runBoot(t, bootScenario{Jit: fakeJit, JitNotFoundFirst: 2})
	if r.code != 0 {
		t.Fatalf("boot.sh failed\n%s", r.dump())
	}
	// The download is checked before it is unpacked.
	check, extract := r.index("sha256sum "), r.index("tar -xzf")
	if check < 0 || extract < 0 || check > extract {
		t.Errorf("the runner archive is not checked (%d) before it is extracted (%d)\n%s", check, extract, r.dump())
	}
	// Read until found, exactly one successful read, deleted before the runner starts.
	gets := r.count("aws ssm get-parameter --name " + r.jitName() + " =>")
	served := r.count("aws ssm get-parameter --name " + r.jitName() + " => value")
	if gets != 3 || served != 1 {
		t.Errorf("JIT reads: %d in all, %d answered; want 2 not-found then 1 read, and no read after\n%s", gets, served, r.dump())
	}
	lastGet := r.lastIndex("aws ssm get-parameter --name " + r.jitName())
	del := r.index("aws ssm delete-parameter --name " + r.jitName())
	run := r.index("run.sh")
	if del < 0 || run < 0 || lastGet >= del || del >= run {
		t.Errorf("want read (%d), then delete (%d), then run.sh (%d)\n%s", lastGet, del, run, r.dump())
	}
	if _, err := os.Stat(r.ssmPath(r.jitName())); err == nil {
		t.Error("the JIT parameter still exists after the runner started")
	}
	if r.count("run.sh") != 1 || r.index("runuser -u runner -- ./run.sh") < 0 {
		t.Errorf("run.sh did not run exactly once as the runner user\n%s", r.dump())
	}
	got, err := os.ReadFile(filepath.Join(r.state, "runner-jit.sha256"))
	want := sha256.Sum256([]byte(fakeJit))
	if err != nil || strings.TrimSpace(string(got)) != hex.EncodeToString(want[:]) {
		t.Errorf("run.sh did not receive the JIT config in ACTIONS_RUNNER_INPUT_JITCONFIG (sha256 %q)", got)
	}
	assertJitNeverShown(t, r)
	assertShippedLogs(t, r)
	assertLeftTheGroup(t, r)
}

func TestGivenADownloadWithTheWrongChecksum_WhenTheInstanceBoots_ThenNothingIsExtractedOrRunAndTheInstanceLeaves(t *testing.T) {
	t.Parallel()
	r := runBoot(t, bootScenario{Jit: fakeJit, WrongChecksum: true})
	if r.code == 0 {
		t.Errorf("boot.sh succeeded with a bad checksum\n%s", r.dump())
	}
	if r.index("sha256sum") < 0 {
		t.Errorf("the checksum was never checked\n%s", r.dump())
	}
	// The runner release parameter is read first; the JIT config never.
	for _, never := range []string{"tar -x", "runuser", "run.sh", "aws ssm get-parameter --name " + r.jitName(), "aws ssm delete-parameter"} {
		if i := r.index(never); i >= 0 {
			t.Errorf("after a checksum mismatch: %s\n%s", r.events[i], r.dump())
		}
	}
	if _, err := os.Stat(filepath.Join(r.root, "home/runner/actions-runner/run.sh")); err == nil {
		t.Error("the unverified archive was extracted into the runner directory")
	}
	// The config stays for the controller's sweeper; the instance did not consume it.
	if _, err := os.Stat(r.ssmPath(r.jitName())); err != nil {
		t.Error("the JIT config was consumed by an instance that cannot run it")
	}
	assertShippedLogs(t, r)
	assertLeftTheGroup(t, r)
}

func TestGivenNoJitConfig_WhenTheBootGracePasses_ThenTheInstanceGivesUpShipsLogsAndLeaves(t *testing.T) {
	t.Parallel()
	// Long enough for several reads even on a loaded machine.
	const wait = 4
	r := runBoot(t, bootScenario{WaitSeconds: wait})
	if r.code == 0 {
		t.Errorf("boot.sh succeeded without a JIT config\n%s", r.dump())
	}
	if r.elapsed < wait*time.Second {
		t.Errorf("gave up after %s, before JIT_WAIT_SECONDS=%d", r.elapsed, wait)
	}
	if n := r.count("aws ssm get-parameter --name " + r.jitName()); n < 2 {
		t.Errorf("read the parameter %d times; a slow controller needs retries\n%s", n, r.dump())
	}
	if !strings.Contains(r.bootLog(), "no JIT config after 4s") {
		t.Errorf("the boot log does not say why the instance gives up:\n%s", r.bootLog())
	}
	for _, never := range []string{"runuser", "run.sh"} {
		if i := r.index(never); i >= 0 {
			t.Errorf("without a JIT config: %s\n%s", r.events[i], r.dump())
		}
	}
	assertShippedLogs(t, r)
	assertLeftTheGroup(t, r)
}

func TestGivenAnyWayTheBootEnds_ThenLogsAreShippedAndTheInstanceLeaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sc   bootScenario
		ok   bool
	}{
		{"job done", bootScenario{Jit: fakeJit}, true},
		{"runner failed", bootScenario{Jit: fakeJit, RunnerExit: 3}, false},
		{"checksum mismatch", bootScenario{Jit: fakeJit, WrongChecksum: true}, false},
		{"no JIT config", bootScenario{WaitSeconds: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBoot(t, tc.sc)
			if (r.code == 0) != tc.ok {
				t.Errorf("exit %d, want success=%v\n%s", r.code, tc.ok, r.dump())
			}
			assertShippedLogs(t, r)
			assertLeftTheGroup(t, r)
			assertJitNeverShown(t, r)
		})
	}
}

func TestGivenThePackagesCannotInstall_WhenTheInstanceBoots_ThenItLeavesWithoutRunning(t *testing.T) {
	t.Parallel()
	r := runBoot(t, bootScenario{Jit: fakeJit, DnfFails: true})
	if r.code == 0 {
		t.Errorf("boot.sh succeeded without its packages\n%s", r.dump())
	}
	for _, never := range []string{"curl download", "runuser", "aws ssm"} {
		if i := r.index(never); i >= 0 {
			t.Errorf("after a failed install: %s\n%s", r.events[i], r.dump())
		}
	}
	// The CloudWatch agent is one of the packages: nothing can ship the logs.
	assertLeftTheGroup(t, r)
}

func TestGivenAWarmPoolLaunch_WhenTheInstanceBoots_ThenItPreparesTagsItselfAndNeitherReadsAJitConfigNorLeaves(t *testing.T) {
	t.Parallel()
	r := runBoot(t, bootScenario{Jit: fakeJit, TargetState: "Warmed:Pending:Wait"})
	if r.code != 0 {
		t.Fatalf("warm preparation failed\n%s", r.dump())
	}
	tag := r.index("aws ec2 create-tags --resources " + fakeInstanceID + " --tags Key=" + r.env["WARM_READY_TAG"])
	extract := r.index("tar -xzf")
	if tag < 0 || extract < 0 || tag < extract {
		t.Errorf("want the runner installed (%d) before the warm-ready tag (%d)\n%s", extract, tag, r.dump())
	}
	// It reads the runner release parameter (to install the runner), never a JIT config.
	for _, never := range []string{"aws ssm get-parameter --name " + r.jitName(), "aws ssm delete-parameter", "runuser", "aws autoscaling terminate-instance-in-auto-scaling-group", "shutdown"} {
		if i := r.index(never); i >= 0 {
			t.Errorf("a warm pool instance ran %s\n%s", r.events[i], r.dump())
		}
	}
}
