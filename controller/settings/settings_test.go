package settings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validSettings() Settings {
	return Settings{
		Environment:         "dev",
		Region:              "us-east-1",
		Repository:          "Sage-Bionetworks/synapse-ops-dev",
		GitHubURL:           "https://github.com/Sage-Bionetworks/synapse-ops-dev",
		CredentialSecretArn: "arn:aws:secretsmanager:us-east-1:449435941126:secret:/synapse-ops-runners/dev/github-AbCdEf",
		CredentialKind:      CredentialApp,
		JitParameterPrefix:  "/synapse-ops-runners/dev/jit/",
		EventQueueURL:       "https://sqs.us-east-1.amazonaws.com/449435941126/events",
		Pools: []Pool{{
			Name: "default", ScaleSetName: "synapse-dev", RunnerGroup: "Default",
			AutoScalingGroupName: "synapse-ops-runners-dev-default", LaunchHookName: "synapse-ops-runners-dev-default-launch",
			Max: 10, BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 8,
		}},
	}
}

func TestGivenValidSettings_WhenWrittenAndLoaded_ThenTheyRoundTrip(t *testing.T) {
	want := validSettings()
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "controller.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Pools[0].AutoScalingGroupName != want.Pools[0].AutoScalingGroupName || got.EventQueueURL != want.EventQueueURL {
		t.Errorf("round trip changed the settings: %+v", got)
	}
}

func TestGivenBrokenSettings_WhenValidated_ThenEveryProblemIsNamed(t *testing.T) {
	s := validSettings()
	s.Region = ""
	s.CredentialKind = "password"
	s.JitParameterPrefix = "/synapse-ops-runners/dev/jit"
	s.EventQueueURL = ""
	s.Pools[0].Min, s.Pools[0].Max = 5, 2
	s.Pools[0].MaxRuntimeHours = 0
	err := s.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"settings: region: missing",
		`settings: credentialKind: "password" is not app or pat`,
		`settings: jitParameterPrefix: "/synapse-ops-runners/dev/jit" must end with /`,
		"settings: eventQueueUrl: missing",
		"settings: pools[0].max: need 0 <= min <= max",
		"settings: pools[0].name: bootGraceMinutes, noJobTimeoutMinutes and maxRuntimeHours must be positive",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 6 {
		t.Errorf("%d problems reported, want 6:\n%v", n, err)
	}
}

func TestGivenNoPools_WhenValidated_ThenItSaysSo(t *testing.T) {
	s := validSettings()
	s.Pools = nil
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "settings: pools: none") {
		t.Errorf("error %v", err)
	}
}

func TestGivenAMissingOrBrokenFile_WhenLoaded_ThenTheErrorNamesIt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"pools": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("broken file: %v", err)
	}
}
