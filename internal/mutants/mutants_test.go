package mutants

import (
	"strings"
	"testing"
)

const sample = `# comment
id: boot-checksum-not-fatal
file: constructs/runnerpool/boot.sh
from: sha256sum --check --strict
to: sha256sum --check --strict || true
why: a failed checksum no longer stops the boot
packages: ./constructs/runnerpool
run: Checksum

id: second
file: config/validate.go
from: a
to: b
why: because
packages: ./config ./test
`

func TestGivenAList_WhenParsed_ThenEachBlockIsAMutant(t *testing.T) {
	ms, err := Parse("list.txt", strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("%d mutants, want 2", len(ms))
	}
	m := ms[0]
	if m.ID != "boot-checksum-not-fatal" || m.To != "sha256sum --check --strict || true" || m.Run != "Checksum" || m.Source != "list.txt:2" {
		t.Errorf("first mutant %+v", m)
	}
	if got := strings.Join(ms[1].Packages, ","); got != "./config,./test" {
		t.Errorf("packages %s", got)
	}
}

func TestGivenBadBlocks_WhenParsed_ThenEveryProblemIsNamed(t *testing.T) {
	_, err := Parse("l.txt", strings.NewReader("id: Bad_Id\nfile: f\nfrom: x\nto: x\npackages: ./a\n\nid: ok\nfile: f\nfrom: y\nto: z\nwhy: w\npackages: ./a\nrun: (\ncolour: red\n\nid: ok\nfile: f\nfrom: y\nto: z\nwhy: w\npackages: ./a\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`l.txt:1: mutant "Bad_Id": id: use lowercase`,
		`mutant "Bad_Id": to: same as from`,
		`mutant "Bad_Id": why: missing`,
		`mutant "ok": run: error parsing regexp`,
		`l.txt:14: unknown field "colour"`,
		`id ok is listed twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestGivenAMutant_WhenApplied_ThenExactlyOneLineChanges(t *testing.T) {
	m := Mutant{ID: "m", File: "f", From: "--strict", To: "--strict || true"}
	got, err := m.Apply("a\n  x --strict\nb\n")
	if err != nil || got != "a\n  x --strict || true\nb\n" {
		t.Errorf("Apply = %q, %v", got, err)
	}
	if _, err := m.Apply("a\nb\n"); err == nil || !strings.Contains(err.Error(), "is not in f") {
		t.Errorf("missing text: %v", err)
	}
	if _, err := m.Apply("--strict\n--strict\n"); err == nil || !strings.Contains(err.Error(), "occurs on 2 lines") {
		t.Errorf("ambiguous text: %v", err)
	}
	m.Occurrence = 2
	if got, err := m.Apply("--strict a\n--strict b\n"); err != nil || got != "--strict a\n--strict || true b\n" {
		t.Errorf("second occurrence: %q, %v", got, err)
	}
	m.Occurrence = 3
	if _, err := m.Apply("--strict a\n--strict b\n"); err == nil || !strings.Contains(err.Error(), "occurrence 3") {
		t.Errorf("missing occurrence: %v", err)
	}
}

func TestGivenFailedTests_WhenClassified_ThenOnlyNamedTestsCount(t *testing.T) {
	golden := GoldenTests[0]
	for _, tc := range []struct {
		failed  []string
		outside bool
		want    Verdict
	}{
		{nil, false, Survived},
		{[]string{golden}, false, CaughtOnlyByGolden},
		{[]string{golden, "TestX"}, false, CaughtByName},
		{[]string{"TestX/sub"}, false, CaughtByName},
		{nil, true, Broken},
		{[]string{golden}, true, CaughtOnlyByGolden},
	} {
		if got := Classify(tc.failed, tc.outside); got != tc.want {
			t.Errorf("Classify(%v, %v) = %s, want %s", tc.failed, tc.outside, got, tc.want)
		}
	}
}
