package runnerpool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

func exampleProps() Props {
	return Props{
		EnvironmentName:      "dev",
		Region:               "us-east-1",
		Pool:                 config.Pool{Name: "long", Packages: []string{"jq", "git"}, BootGraceMinutes: 10},
		Runner:               config.Runner{MinimumVersion: "2.335.1", MinimumSHA256: strings.Repeat("ab", 32)},
		AutoScalingGroupName: "synapse-ops-runners-dev-long",
		LogGroupName:         "/synapse-ops-runners/dev/runners",
		JitParameterPrefix:   "/synapse-ops-runners/dev/jit/",
		DeploymentRoleArn:    "arn:aws:iam::449435941126:role/synapse-deployment",
		JitWaitSeconds:       600,

		RunnerReleaseParameter:   "/synapse-ops-runners/dev/runner-release",
		AdmissionParameterPrefix: "/synapse-ops-runners/dev/admission/",
	}
}

func TestGivenPoolProps_WhenUserDataIsRendered_ThenItWritesTheSettingsAndTheUnit(t *testing.T) {
	ud := UserData(exampleProps())
	for _, want := range []string{
		"#!/bin/bash\n",
		`ASG_NAME="synapse-ops-runners-dev-long"`,
		`JIT_PARAMETER_PREFIX="/synapse-ops-runners/dev/jit/"`,
		`PACKAGES="git jq"`, // sorted, so the template is stable
		`RUNNER_FLOOR_SHA256="` + strings.Repeat("ab", 32) + `"`,
		`RUNNER_RELEASE_PARAMETER="/synapse-ops-runners/dev/runner-release"`,
		`JIT_WAIT_SECONDS="600"`,
		"EnvironmentFile=/etc/synapse-ops-runners/runner.env",
		"systemctl enable --now --no-block synapse-ops-runner.service",
	} {
		if !strings.Contains(ud, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	// The boot script is embedded (comments dropped, see shipped) between quoted heredoc markers, so no
	// expansion happens while writing it.
	if !strings.Contains(ud, "<<'BOOT'\n"+shipped(bootScript)+"BOOT\n") {
		t.Error("boot script is not embedded verbatim")
	}
}

func TestGivenAdmission_WhenUserDataIsRendered_ThenTheHookIsRootOwnedAndChained(t *testing.T) {
	ud := UserData(exampleProps())
	for _, want := range []string{
		`ADMISSION_PARAMETER_PREFIX="/synapse-ops-runners/dev/admission/"`,
		`ADMISSION_WAIT_SECONDS="60"`,
		// Verbatim, between quoted markers, in the root-owned directory.
		"cat > /opt/synapse-ops-runners/admission-hook.sh <<'HOOK'\n" + shipped(admissionHook) + "HOOK\n",
		"chmod 0755 /opt/synapse-ops-runners/admission-hook.sh\n",
	} {
		if !strings.Contains(ud, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	for _, want := range []string{
		`"${ADMISSION_PARAMETER_PREFIX}${INSTANCE_ID}"`,
		`> "${STATE_DIR}/admission.env"`,
		`echo "exec /bin/bash -e ${STATE_DIR}/admission-hook.sh" >> "${STATE_DIR}/job-started.sh"`,
	} {
		if !strings.Contains(bootScript, want) {
			t.Errorf("boot script lacks %q", want)
		}
	}
	// The settings must not land where the runner user can write: the runner's
	// own directory is chowned to it.
	if strings.Contains(bootScript, `${RUNNER_DIR}/admission`) || strings.Contains(bootScript, `${RUNNER_HOME}/admission`) {
		t.Error("admission settings written into the runner user's directory")
	}

	off := exampleProps()
	off.AdmissionParameterPrefix = ""
	if ud := UserData(off); strings.Contains(ud, "admission-hook.sh <<") || strings.Contains(ud, "ADMISSION_PARAMETER_PREFIX=\"") {
		t.Error("admission hook installed without a verdict prefix")
	}
}

// shellcheck runs shellcheck on a file; without it the test fails in CI and skips elsewhere.
func shellcheck(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("shellcheck is not installed; .ci/run installs it with apt-get install -y shellcheck")
		}
		t.Skip("shellcheck not installed (apt-get install -y shellcheck)")
	}
	out, err := exec.Command(bin, "--shell=bash", "--severity=style", path).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %s:\n%s", filepath.Base(path), out)
	}
}

// boot.sh itself is checked with every other tracked script in test/lint.
func TestGivenRenderedUserData_ThenShellcheckFindsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "user-data.sh")
	if err := os.WriteFile(path, []byte(UserData(exampleProps())), 0o600); err != nil {
		t.Fatal(err)
	}
	shellcheck(t, path)
}

func TestGivenTheBootScript_ThenItNeverPrintsTheJitConfigAndAlwaysLeavesTheGroup(t *testing.T) {
	for _, want := range []string{
		"trap leave_group EXIT",
		"--should-decrement-desired-capacity",
		"shutdown -h",
		`aws ssm delete-parameter --name "${name}"`,
		`"${STATE_DIR}/fetch-runner.sh" "${RUNNER_DIR}"`,
		`--tags "Key=${WARM_READY_TAG}`,
	} {
		if !strings.Contains(bootScript, want) {
			t.Errorf("boot script lacks %q", want)
		}
	}
	for _, line := range strings.Split(bootScript, "\n") {
		if strings.Contains(line, "JIT_CONFIG") && (strings.Contains(line, "log ") || strings.Contains(line, "echo")) {
			t.Errorf("boot script may print the JIT config: %s", strings.TrimSpace(line))
		}
	}
	if strings.Contains(bootScript, "set -x") {
		t.Error("boot script traces commands, which would print the JIT config")
	}
	// On a command line the config reaches the journal and process listings.
	code := withoutComments(bootScript)
	if strings.Contains(code, "--jitconfig") || strings.Contains(code, "sudo ") {
		t.Error("boot script passes the JIT config on a command line or through sudo's logged command")
	}
	if !strings.Contains(bootScript, `ACTIONS_RUNNER_INPUT_JITCONFIG=${JIT_CONFIG} runuser -u "${RUNNER_USER}" -- ./run.sh`) {
		t.Error("boot script does not hand the JIT config to run.sh through ACTIONS_RUNNER_INPUT_JITCONFIG")
	}
}

func TestGivenTheBootScript_ThenItInstallsTheRunnersDependenciesWithDnf(t *testing.T) {
	// actions/runner's installdependencies.sh exits 1 on Amazon Linux 2023, and
	// the EXIT trap would then remove every new instance before its first job.
	if strings.Contains(withoutComments(bootScript), "installdependencies.sh") {
		t.Error("boot script calls installdependencies.sh, which fails on Amazon Linux 2023")
	}
	for _, pkg := range []string{"libicu", "krb5-libs", "openssl-libs", "zlib"} {
		if !strings.Contains(bootScript, pkg) {
			t.Errorf("boot script does not install %s", pkg)
		}
	}
}

// withoutComments drops whole-line shell comments, so tests look at commands only.
func withoutComments(script string) string {
	var b strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// EC2 refuses user data over 16 KB (before base64); the boot script and the
// admission hook travel in it without comments (shipped).
func TestGivenEveryOption_ThenUserDataFitsEC2sLimit(t *testing.T) {
	props := exampleProps()
	props.Pool.Packages = config.KnownPackages
	props.Runner.Version, props.Runner.SHA256 = "2.335.1", strings.Repeat("ab", 32)
	if n := len(UserData(props)); n > 16384 {
		t.Errorf("user data is %d bytes; EC2 accepts at most 16384", n)
	} else {
		t.Logf("user data: %d of 16384 bytes", n)
	}
}

func TestShipped_GivenAScript_ThenOnlyCommentLinesAndBlankLinesGo(t *testing.T) {
	in := "#!/bin/bash\n# why\n\nset -eu\n  # indented why\ncat > f <<H\n#!/bin/sh\necho '# kept' # trailing\nH\n"
	want := "#!/bin/bash\nset -eu\ncat > f <<H\n#!/bin/sh\necho '# kept' # trailing\nH\n"
	if got := shipped(in); got != want {
		t.Errorf("shipped:\n%q\nwant\n%q", got, want)
	}
}
