package runnerpool

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSSM is a loopback stand-in for SSM's GetParameter on one parameter: it
// answers ParameterNotFound for the first notFound reads, then the value (or
// keeps answering not found when value is empty). A stub aws CLI on the hook's
// AWS_CLI setting forwards each call here and records its environment.
type fakeSSM struct {
	mu       sync.Mutex
	name     string
	value    string
	notFound int
	denied   int
	reads    int
}

func (f *fakeSSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	switch {
	case r.URL.Query().Get("name") != f.name:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "An error occurred (ValidationException) when calling the GetParameter operation: wrong name %q", r.URL.Query().Get("name"))
	case f.denied > 0:
		f.denied--
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "An error occurred (AccessDeniedException) when calling the GetParameter operation: not authorized")
	case f.notFound > 0 || f.value == "":
		f.notFound--
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "An error occurred (ParameterNotFound) when calling the GetParameter operation: ")
	default:
		fmt.Fprint(w, f.value)
	}
}

// ssmSpec is what a case asks of fakeSSM.
type ssmSpec struct {
	value            string
	notFound, denied int
}

const verdictParam = "/synapse-ops-runners/dev/admission/i-0123456789abcdef0"

type hookRun struct {
	out     string
	err     error
	env     string // the environment the stub aws CLI saw
	args    string
	elapsed time.Duration
}

// runHook installs the hook as the boot script does (script and settings side
// by side) and runs it the way the runner does: bash -e <path>, with a hostile
// environment around it.
func runHook(t *testing.T, ssm *fakeSSM, waitSeconds int) hookRun {
	t.Helper()
	srv := httptest.NewServer(ssm)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	hook := filepath.Join(dir, "admission-hook.sh")
	if err := os.WriteFile(hook, []byte(shipped(admissionHook)), 0o755); err != nil {
		t.Fatal(err)
	}
	// The stub: record argv and environment, then ask the loopback SSM.
	stub := filepath.Join(dir, "aws")
	stubText := fmt.Sprintf(`#!/bin/bash
printf '%%s\n' "$*" >%[1]q/args
env >%[1]q/env
name=""
while [[ $# -gt 0 ]]; do [[ "$1" == --name ]] && name=$2; shift; done
body=$(curl -s -o %[1]q/body -w '%%{http_code}' --get --data-urlencode "name=${name}" %[2]q)
if [[ "${body}" != 200 ]]; then cat %[1]q/body >&2; exit 254; fi
cat %[1]q/body; echo
`, dir, srv.URL)
	if err := os.WriteFile(stub, []byte(stubText), 0o755); err != nil {
		t.Fatal(err)
	}
	settings := fmt.Sprintf("VERDICT_PARAMETER=%s\nAWS_REGION=us-east-1\nWAIT_SECONDS=%d\nPOLL_SECONDS=0.1\nAWS_CLI=%s\n", verdictParam, waitSeconds, stub)
	if err := os.WriteFile(filepath.Join(dir, "admission.env"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	// A job's environment cannot redirect the read: a fake aws first on PATH,
	// an endpoint override and static credentials must all be ignored.
	evil := filepath.Join(t.TempDir(), "aws")
	if err := os.WriteFile(evil, []byte("#!/bin/bash\necho verdict=allow\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-e", hook)
	cmd.Env = []string{
		"PATH=" + filepath.Dir(evil) + ":/usr/bin:/bin",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_ENDPOINT_URL_SSM=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=AKIAFORGEDFORGEDFORG", "AWS_PROFILE=synapse-deployment",
		"GITHUB_RUN_ID=42",
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := hookRun{out: string(out), err: err, elapsed: time.Since(start)}
	envBytes, _ := os.ReadFile(filepath.Join(dir, "env"))
	argBytes, _ := os.ReadFile(filepath.Join(dir, "args"))
	r.env, r.args = string(envBytes), string(argBytes)
	return r
}

func TestAdmissionHook(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is needed by the stub aws CLI")
	}
	// The format controller/internal/admission's Verdict.Encode writes (its
	// tests pin the same strings).
	allow := "verdict=allow\nrule=admitted\nreason=run-task.yml on main\n"
	deny := "verdict=deny\nrule=admission.branches\nreason=branch \"feature-x\" is not one of [main]\n"
	cases := []struct {
		name     string
		ssm      ssmSpec
		wait     int
		wantOK   bool
		wantOut  []string
		minReads int
	}{
		{name: "allow", ssm: ssmSpec{value: allow}, wait: 30, wantOK: true,
			wantOut: []string{"admission: admitted (admitted): run-task.yml on main"}, minReads: 1},
		{name: "allow after the controller catches up", ssm: ssmSpec{value: allow, notFound: 3, denied: 1}, wait: 30, wantOK: true,
			wantOut: []string{"admission: admitted"}, minReads: 5},
		{name: "deny", ssm: ssmSpec{value: deny}, wait: 30,
			wantOut: []string{
				`::error title=Job refused by admission::rule admission.branches: branch "feature-x" is not one of [main]`,
				"admission: refused: rule admission.branches",
			}, minReads: 1},
		{name: "timeout", ssm: ssmSpec{}, wait: 1,
			wantOut: []string{"no verdict after 1s (rule run.lookup; last error: An error occurred (ParameterNotFound)"}, minReads: 1},
		{name: "malformed", ssm: ssmSpec{value: "verdict=yes\nrule=x\n"}, wait: 30,
			wantOut: []string{"malformed verdict (18 bytes) in " + verdictParam}, minReads: 1},
		{name: "allow not on the first line", ssm: ssmSpec{value: "rule=x\nverdict=allow\n"}, wait: 30,
			wantOut: []string{"malformed verdict"}, minReads: 1},
		{name: "unknown line after allow", ssm: ssmSpec{value: "verdict=allow\n::set-env name=X::y\n"}, wait: 30,
			wantOut: []string{"malformed verdict"}, minReads: 1},
		{name: "reason with a workflow command", ssm: ssmSpec{value: "verdict=deny\nrule=r\nreason=x ::add-mask::y\n"}, wait: 30,
			wantOut: []string{"rule r: x   add-mask  y"}, minReads: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ssm := fakeSSM{name: verdictParam, value: c.ssm.value, notFound: c.ssm.notFound, denied: c.ssm.denied}
			r := runHook(t, &ssm, c.wait)
			if (r.err == nil) != c.wantOK {
				t.Fatalf("exit: %v, want success %v\n%s", r.err, c.wantOK, r.out)
			}
			for _, w := range c.wantOut {
				if !strings.Contains(r.out, w) {
					t.Errorf("output lacks %q:\n%s", w, r.out)
				}
			}
			if ssm.reads < c.minReads {
				t.Errorf("%d reads, want at least %d", ssm.reads, c.minReads)
			}
			if strings.Contains(r.out, "::add-mask::") || strings.Contains(r.out, "::set-env") {
				t.Errorf("the hook printed a workflow command from the verdict:\n%s", r.out)
			}
			if !strings.Contains(r.args, "ssm get-parameter --name "+verdictParam+" --with-decryption") {
				t.Errorf("aws called with %q", r.args)
			}
			for _, leaked := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "GITHUB_RUN_ID"} {
				if strings.Contains(r.env, leaked) {
					t.Errorf("the job's %s reached the AWS CLI", leaked)
				}
			}
			if !strings.Contains(r.env, "AWS_CONFIG_FILE=/dev/null") {
				t.Errorf("the AWS CLI may read a profile the job wrote:\n%s", r.env)
			}
		})
	}
}

func TestAdmissionHook_GivenTimeout_ThenBoundedWait(t *testing.T) {
	ssm := fakeSSM{name: verdictParam}
	r := runHook(t, &ssm, 2)
	if r.err == nil {
		t.Fatal("the hook passed without a verdict")
	}
	// Bounded: two seconds of waiting, one poll interval and one CLI call of slack.
	if r.elapsed < 2*time.Second || r.elapsed > 20*time.Second {
		t.Errorf("waited %s for a 2s budget", r.elapsed)
	}
}

func TestAdmissionHook_GivenMissingOrBadSettings_ThenRefused(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "admission-hook.sh")
	if err := os.WriteFile(hook, []byte(shipped(admissionHook)), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-e", hook).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "admission.env are missing") {
		t.Errorf("no settings: err %v\n%s", err, out)
	}
	for settings, want := range map[string]string{
		"VERDICT_PARAMETER=x\nAWS_REGION=us-east-1\nWAIT_SECONDS=5\n":                      "VERDICT_PARAMETER is not an SSM parameter name",
		"VERDICT_PARAMETER=/a\nAWS_REGION=us-east-1\nWAIT_SECONDS=5s\n":                    "WAIT_SECONDS is not a number",
		"VERDICT_PARAMETER=/a\nAWS_REGION=us-east-1\nWAIT_SECONDS=5\nBASH_ENV=/tmp/evil\n": "unknown setting BASH_ENV",
	} {
		if err := os.WriteFile(filepath.Join(dir, "admission.env"), []byte(settings), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", "-e", hook).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("settings %q: err %v, want %q in\n%s", settings, err, want, out)
		}
	}
}

func TestAdmissionHook_Shellcheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admission-hook.sh")
	if err := os.WriteFile(path, []byte(shipped(admissionHook)), 0o600); err != nil {
		t.Fatal(err)
	}
	shellcheck(t, path)
}
