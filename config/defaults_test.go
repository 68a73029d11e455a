package config_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// TestWithDefaults_GivenMinimalEnvironment_ThenEveryDefaultFilled spells out the
// full result, so a changed or forgotten default fails here, not in a template.
func TestWithDefaults_GivenMinimalEnvironment_ThenEveryDefaultFilled(t *testing.T) {
	in := rawDev()
	in.Pools = append(in.Pools, config.Pool{Name: "gpu", InstanceTypes: []string{"g5g.xlarge"}, Max: 1})

	got := in.WithDefaults()

	want := rawDev()
	want.Region = "us-east-1"
	want.GitHubOidc.ProviderArn = "arn:aws:iam::449435941126:oidc-provider/token.actions.githubusercontent.com"
	want.AdminToken.SecretName = "/synapse/admin-pat"
	want.GitHubCredential = config.GitHubCredential{SecretName: "/synapse-ops-runners/dev/github", Kind: "app"}
	want.Runner.AdoptAfterDays = 1
	want.Runner.AmiSsmParameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
	want.Controller.InstanceType = "t4g.small"
	want.CdkBootstrap = config.CdkBootstrap{
		Qualifier:           "hnb659fds",
		StackName:           "cdk-bootstrap-default",
		MinVersion:          6,
		ExecutionPolicyArns: []string{"arn:aws:iam::aws:policy/AdministratorAccess"},
	}
	want.LogRetentionDays = 90
	want.Admission.WaitSeconds = 60
	packages := []string{"git", "jq", "awscli", "java11-maven", "docker"}
	want.Pools = []config.Pool{
		{
			Name: "default", Kind: "standard", ScaleSetName: "synapse-dev", RunnerGroup: "Default",
			InstanceTypes: []string{"m7g.large", "m6g.large"}, Spot: true, Max: 10,
			VolumeSizeGiB: 40, Packages: packages, BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 8,
		},
		{
			Name: "long", Kind: "long", ScaleSetName: "synapse-dev-long", RunnerGroup: "Default",
			InstanceTypes: []string{"m7g.large"}, Max: 3,
			VolumeSizeGiB: 40, Packages: packages, BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 31,
		},
		{
			Name: "gpu", Kind: "standard", ScaleSetName: "synapse-dev-gpu", RunnerGroup: "Default",
			InstanceTypes: []string{"g5g.xlarge"}, Max: 1,
			VolumeSizeGiB: 40, Packages: packages, BootGraceMinutes: 10, NoJobTimeoutMinutes: 30, MaxRuntimeHours: 8,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WithDefaults()\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults of a minimal environment do not validate: %v", err)
	}
	if again := got.WithDefaults(); !reflect.DeepEqual(again, got) {
		t.Errorf("WithDefaults is not idempotent:\n%s\n%s", mustJSON(t, again), mustJSON(t, got))
	}
}

// TestWithDefaults_GivenExplicitValues_ThenKept checks that defaults only fill
// gaps and that the "set one of two" fields stay unset.
func TestWithDefaults_GivenExplicitValues_ThenKept(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(e *config.Environment)
		check  func(t *testing.T, got config.Environment)
	}{
		{"GivenRegion_ThenKept", func(e *config.Environment) { e.Region = "us-west-2" }, func(t *testing.T, got config.Environment) {
			if got.Region != "us-west-2" {
				t.Errorf("region = %s", got.Region)
			}
		}},
		{"GivenCreateProvider_ThenNoProviderArnDerived", func(e *config.Environment) { e.GitHubOidc.CreateProvider = true }, func(t *testing.T, got config.Environment) {
			if got.GitHubOidc.ProviderArn != "" {
				t.Errorf("providerArn = %q, want none when the stack creates the provider", got.GitHubOidc.ProviderArn)
			}
		}},
		{"GivenMalformedAccount_ThenNoProviderArnDerived", func(e *config.Environment) { e.Account = "4494" }, func(t *testing.T, got config.Environment) {
			if got.GitHubOidc.ProviderArn != "" {
				t.Errorf("providerArn = %q, want none derived from a malformed account", got.GitHubOidc.ProviderArn)
			}
		}},
		{"GivenAmiID_ThenNoAmiParameter", func(e *config.Environment) { e.Runner.AmiID = "ami-0123456789abcdef0" }, func(t *testing.T, got config.Environment) {
			if got.Runner.AmiSsmParameter != "" || got.Runner.AmiID != "ami-0123456789abcdef0" {
				t.Errorf("runner = %+v, want the AMI id alone", got.Runner)
			}
		}},
		{"GivenEmptyPackageList_ThenNoPackages", func(e *config.Environment) { e.Pools[0].Packages = []string{} }, func(t *testing.T, got config.Environment) {
			if got.Pools[0].Packages == nil || len(got.Pools[0].Packages) != 0 {
				t.Errorf("packages = %#v, want an explicit empty list kept", got.Pools[0].Packages)
			}
		}},
		{"GivenOwnPoolSettings_ThenKept", func(e *config.Environment) {
			e.Pools[1].ScaleSetName = "ops-long"
			e.Pools[1].RunnerGroup = "synapse"
			e.Pools[1].MaxRuntimeHours = 40
			e.Pools[1].Packages = []string{"git"}
			e.GitHubCredential = config.GitHubCredential{SecretName: "/gh/pat", Kind: "pat"}
			e.LogRetentionDays = 365
		}, func(t *testing.T, got config.Environment) {
			p := got.Pools[1]
			if p.ScaleSetName != "ops-long" || p.RunnerGroup != "synapse" || p.MaxRuntimeHours != 40 || len(p.Packages) != 1 ||
				got.GitHubCredential.SecretName != "/gh/pat" || got.GitHubCredential.Kind != "pat" || got.LogRetentionDays != 365 {
				t.Errorf("explicit values overwritten: %+v %+v %d", p, got.GitHubCredential, got.LogRetentionDays)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := rawDev()
			tc.mutate(&e)
			tc.check(t, e.WithDefaults())
		})
	}
}

// TestWithDefaults_GivenOutputMutated_ThenInputUnchanged proves the copy is
// deep: every slice and map of the result can be changed without touching the
// caller's value (constructs copy props before filling defaults for the same reason).
func TestWithDefaults_GivenOutputMutated_ThenInputUnchanged(t *testing.T) {
	in := rawDev()
	in.AdminToken.Create = true
	in.AdminToken.AdminPrincipalArns = []string{"arn:aws:iam::449435941126:role/break-glass"}
	in.CdkBootstrap.TrustAccounts = []string{"123456789012"}
	in.CdkBootstrap.ExecutionPolicyArns = []string{"arn:aws:iam::449435941126:policy/cdk-exec"}
	in.Pools[0].Packages = []string{"git", "jq"}
	snapshot := deepCopy(t, in)

	out := in.WithDefaults()
	if !reflect.DeepEqual(in, snapshot) {
		t.Fatalf("WithDefaults changed its receiver:\n%s", mustJSON(t, in))
	}

	out.Tags["CostCenter"] = "changed"
	out.Tags["New"] = "added"
	out.Vpc.AvailabilityZones[0] = "changed"
	out.Vpc.PrivateSubnets[0].ID = "changed"
	out.GitHubOidc.Subjects[0] = "changed"
	out.AdminToken.AdminPrincipalArns[0] = "changed"
	out.CdkBootstrap.TrustAccounts[0] = "changed"
	out.CdkBootstrap.ExecutionPolicyArns[0] = "changed"
	out.Pools[0].Name = "changed"
	out.Pools[0].InstanceTypes[0] = "changed"
	out.Pools[0].Packages[0] = "changed"
	out.Pools[1].Packages[0] = "changed" // defaulted list: must not alias KnownPackages
	if !reflect.DeepEqual(in, snapshot) {
		t.Errorf("mutating the result changed the input:\n got: %s\nwant: %s", mustJSON(t, in), mustJSON(t, snapshot))
	}
	if config.KnownPackages[0] != "git" {
		t.Errorf("mutating a defaulted package list changed KnownPackages: %v", config.KnownPackages)
	}
}

// deepCopy copies through JSON, which every config field round-trips through.
func deepCopy(t *testing.T, e config.Environment) config.Environment {
	t.Helper()
	var out config.Environment
	if err := json.Unmarshal(mustJSON(t, e), &out); err != nil {
		t.Fatal(err)
	}
	return out
}
