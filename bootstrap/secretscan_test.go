package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain scans everything every test's runs printed (tables and JSON, plan
// and apply, error paths, logs) for the test secrets, after all tests ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := findSecrets(allOutput.String()); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the bootstrap printed secret values: %v\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

func findSecrets(out string) []string {
	secrets := []string{testAdminToken, testPAT, testInstallToken, "FAKE-another-token-999999", "PRIVATE KEY"}
	for _, k := range []string{pemOf(testKey()), pemOf(otherKey())} {
		secrets = append(secrets, strings.Split(k, "\n")[1:4]...)
	}
	var leaks []string
	for _, s := range secrets {
		if strings.Contains(out, s) {
			leaks = append(leaks, s[:min(len(s), 12)]+"...")
		}
	}
	return leaks
}

// TestSecretScanWorks proves the scan would catch a leak, and that the runs it
// scans did handle every secret (so an empty scan is not vacuous).
func TestSecretScanWorks(t *testing.T) {
	if len(findSecrets("x "+testPAT+" y")) != 1 {
		t.Fatal("scan misses a token")
	}
	w := newWorld(t)
	w.env.GitHubCredential.Kind = "pat"
	w.sm.secrets[credSecret].value = new(patSecret())
	w.sm.secrets[adminSecret].value = nil
	w.stdin = testAdminToken
	w.gh.status["GET /repos/{owner}/{repo}/actions/runners"] = 403
	res := w.run("apply", "--env", "test", "--verbose")
	if !strings.Contains(res.stdout, "stored the given token") || !strings.Contains(res.stderr, `"msg":"fixed"`) {
		t.Fatalf("apply did not store the token or log it:\n%s\n%s", res.stdout, res.stderr)
	}
	if leaks := findSecrets(res.stdout + res.stderr); len(leaks) > 0 {
		t.Fatalf("leaked %v", leaks)
	}
}
