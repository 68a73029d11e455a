package runnerpool

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fetchWorld runs fetch-runner.sh under bash with stub aws and curl commands
// first on PATH: aws prints the parameter (or fails), curl "downloads" a local
// tarball (or fails) and records the URL it was asked for.
type fetchWorld struct {
	t         *testing.T
	dir       string
	tarball   []byte
	parameter string // value aws ssm get-parameter prints; "" makes it fail
	curlFails bool
	pin       [2]string
}

const floorVersion = "2.335.1"

func newFetchWorld(t *testing.T) *fetchWorld {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	return &fetchWorld{t: t, dir: t.TempDir(), tarball: runnerTarball(t)}
}

func runnerTarball(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("#!/bin/sh\necho runner\n")
	if err := tw.WriteHeader(&tar.Header{Name: "run.sh", Mode: 0o755, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func releaseURL(v string) string {
	return "https://github.com/actions/runner/releases/download/v" + v + "/actions-runner-linux-arm64-" + v + ".tar.gz"
}

func published(version, sha string) string {
	return `{"version":"` + version + `","url":"` + releaseURL(version) + `","sha256":"` + sha + `","publishedAt":"2026-11-20T10:00:00Z"}`
}

func (w *fetchWorld) write(name, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o755); err != nil {
		w.t.Fatal(err)
	}
}

// run executes the script with the floor's checksum set to floorSHA and
// returns its exit status, output and the URLs curl was asked for.
func (w *fetchWorld) run(floorSHA string) (int, string, []string) {
	w.t.Helper()
	bin := filepath.Join(w.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "runner.tar.gz"), w.tarball, 0o644); err != nil {
		w.t.Fatal(err)
	}
	aws := "#!/bin/bash\nexit 255\n"
	if w.parameter != "" {
		w.write("parameter", w.parameter)
		aws = "#!/bin/bash\n[[ \"$*\" == *'--name /synapse-ops-runners/dev/runner-release'* ]] || exit 254\ncat '" + filepath.Join(w.dir, "parameter") + "'\n"
	}
	w.write("bin/aws", aws)
	curl := `#!/bin/bash
out=""; url=""
while (($#)); do case "$1" in -o) out=$2; shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac; done
echo "${url}" >> '` + filepath.Join(w.dir, "urls") + `'
`
	if w.curlFails {
		curl += "echo 'curl: (6) Could not resolve host: github.com' >&2\nexit 6\n"
	} else {
		curl += "cp '" + filepath.Join(w.dir, "runner.tar.gz") + "' \"${out}\"\n"
	}
	w.write("bin/curl", curl)

	dest := filepath.Join(w.dir, "actions-runner")
	w.write("fetch-runner.sh", shipped(fetchRunnerScript)) // as the user data ships it
	cmd := exec.Command("bash", filepath.Join(w.dir, "fetch-runner.sh"), dest)
	cmd.Env = []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"RUNNER_RELEASE_PARAMETER=/synapse-ops-runners/dev/runner-release",
		"RUNNER_FLOOR_VERSION=" + floorVersion,
		"RUNNER_FLOOR_SHA256=" + floorSHA,
		"RUNNER_PIN_VERSION=" + w.pin[0],
		"RUNNER_PIN_SHA256=" + w.pin[1],
	}
	out, err := cmd.CombinedOutput()
	status := 0
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		status = exitErr.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	urls, _ := os.ReadFile(filepath.Join(w.dir, "urls"))
	return status, string(out), strings.Fields(string(urls))
}

func (w *fetchWorld) unpacked() bool {
	_, err := os.Stat(filepath.Join(w.dir, "actions-runner", "run.sh"))
	return err == nil
}

func TestGivenPublishedRelease_WhenChecksumMatches_ThenItIsUnpacked(t *testing.T) {
	w := newFetchWorld(t)
	w.parameter = published("2.336.0", digest(w.tarball))
	status, out, urls := w.run(strings.Repeat("0", 64))
	if status != 0 || !w.unpacked() {
		t.Fatalf("status %d, unpacked %v:\n%s", status, w.unpacked(), out)
	}
	if len(urls) != 1 || urls[0] != releaseURL("2.336.0") {
		t.Errorf("downloaded %v, want the published release only", urls)
	}
}

func TestGivenPublishedRelease_WhenChecksumDiffers_ThenItRefusesAndSaysSo(t *testing.T) {
	w := newFetchWorld(t)
	w.parameter = published("2.336.0", strings.Repeat("a", 64))
	status, out, _ := w.run(digest(w.tarball))
	if status != 4 || w.unpacked() {
		t.Fatalf("status %d (want 4), unpacked %v:\n%s", status, w.unpacked(), out)
	}
	// The metric filter of the runner log group matches this word.
	if !strings.Contains(out, "runner-checksum-mismatch version=2.336.0 source=published") {
		t.Errorf("no mismatch line the alarm can pick up:\n%s", out)
	}
}

func TestGivenGitHubUnreachable_ThenItFailsWithoutUnpacking(t *testing.T) {
	w := newFetchWorld(t)
	w.parameter = published("2.336.0", digest(w.tarball))
	w.curlFails = true
	status, out, _ := w.run(digest(w.tarball))
	if status != 3 || w.unpacked() {
		t.Fatalf("status %d (want 3), unpacked %v:\n%s", status, w.unpacked(), out)
	}
	if !strings.Contains(out, "runner-download-failed version=2.336.0") {
		t.Errorf("no download-failed line:\n%s", out)
	}
}

func TestGivenNoUsablePublication_ThenTheFloorIsUsed(t *testing.T) {
	for name, parameter := range map[string]string{
		"unreadable":     "",
		"older":          published("2.334.0", strings.Repeat("b", 64)),
		"other-url":      strings.Replace(published("2.336.0", strings.Repeat("b", 64)), "https://github.com/actions", "https://evil.example/actions", 1),
		"bad-version":    published("2.336.0;reboot", strings.Repeat("b", 64)),
		"bad-sha":        published("2.336.0", "BB"),
		"not-json":       "ParameterNotFound",
		"missing-fields": `{"version":"2.336.0"}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newFetchWorld(t)
			w.parameter = parameter
			status, out, urls := w.run(digest(w.tarball))
			if status != 0 || !w.unpacked() {
				t.Fatalf("status %d, unpacked %v:\n%s", status, w.unpacked(), out)
			}
			if len(urls) != 1 || urls[0] != releaseURL(floorVersion) {
				t.Errorf("downloaded %v, want the floor %s", urls, floorVersion)
			}
		})
	}
}

func TestGivenFloorWithWrongChecksum_ThenItRefuses(t *testing.T) {
	w := newFetchWorld(t)
	status, out, _ := w.run(strings.Repeat("c", 64))
	if status != 4 || w.unpacked() || !strings.Contains(out, "runner-checksum-mismatch version="+floorVersion+" source=floor") {
		t.Fatalf("status %d (want 4), unpacked %v:\n%s", status, w.unpacked(), out)
	}
}

func TestGivenPin_ThenThePublicationIsIgnored(t *testing.T) {
	w := newFetchWorld(t)
	w.parameter = published("2.337.0", strings.Repeat("b", 64))
	w.pin = [2]string{"2.335.2", digest(w.tarball)}
	status, out, urls := w.run(strings.Repeat("0", 64))
	if status != 0 || !w.unpacked() || len(urls) != 1 || urls[0] != releaseURL("2.335.2") {
		t.Fatalf("status %d, unpacked %v, urls %v:\n%s", status, w.unpacked(), urls, out)
	}
}

func TestGivenTheFetchScript_ThenShellcheckFindsNothing(t *testing.T) {
	shellcheck(t, "fetch-runner.sh")
}
