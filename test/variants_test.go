package test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// variant synthesizes dev with a changed config, to cover the options the
// committed files leave at their defaults.
func variant(t *testing.T, change func(e *envConfig)) *synthesized {
	t.Helper()
	e := committed(t)["dev"]
	change(&e)
	e = e.WithDefaults()
	if err := e.Validate(); err != nil {
		t.Fatalf("variant config is invalid: %v", err)
	}
	return synth(t, e)
}

func TestGivenAdminTokenCreate_ThenTheSecretHasAKeyAResourcePolicyAndNoValue(t *testing.T) {
	s := variant(t, func(e *envConfig) {
		e.AdminToken.Create = true
		e.AdminToken.AdminPrincipalArns = []string{"arn:aws:iam::449435941126:role/break-glass"}
	})
	tpl := s.template("dev")
	secrets := s.resources("dev", "AWS::SecretsManager::Secret")
	if len(secrets) != 1 {
		t.Fatalf("%d secrets, want the admin token only", len(secrets))
	}
	for id, sec := range secrets {
		p := props(sec)
		if p["Name"] != "/synapse/admin-pat" {
			t.Errorf("%s: name %v", id, p["Name"])
		}
		if _, has := p["SecretString"]; has {
			t.Errorf("%s: the template holds a secret value", id)
		}
		if _, has := p["GenerateSecretString"]; has {
			t.Errorf("%s: the template generates a value; the bootstrap sets it", id)
		}
		if p["KmsKeyId"] == nil {
			t.Errorf("%s: not encrypted with a customer-managed key", id)
		}
	}
	tpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
		"EnableKeyRotation": true,
		"Description":       assertions.Match_StringLikeRegexp(jsii.String("admin token")),
	})
	var tokenPolicies []string
	for _, p := range s.resources("dev", "AWS::SecretsManager::ResourcePolicy") {
		// The created secret is referenced by its logical id, the imported credential by name.
		if strings.Contains(jsonString(t, props(p)["SecretId"]), "AdminTokenSecret") {
			tokenPolicies = append(tokenPolicies, jsonString(t, props(p)["ResourcePolicy"]))
		}
	}
	if len(tokenPolicies) != 1 {
		t.Fatalf("%d resource policies on the created admin token, want 1", len(tokenPolicies))
	}
	for _, doc := range tokenPolicies {
		for _, want := range []string{`"Effect":"Deny"`, `"aws:PrincipalArn"`, "break-glass", "RunnerRole", `"secretsmanager:GetSecretValue"`} {
			if !strings.Contains(doc, want) {
				t.Errorf("resource policy lacks %s: %s", want, doc)
			}
		}
	}
}

func TestGivenCreateProvider_ThenTheStackCreatesTheGitHubProviderWithTheStsAudience(t *testing.T) {
	s := variant(t, func(e *envConfig) {
		e.GitHubOidc.CreateProvider = true
		e.GitHubOidc.ProviderArn = ""
	})
	s.template("dev").HasResourceProperties(jsii.String("AWS::IAM::OIDCProvider"), map[string]any{
		"Url":          "https://token.actions.githubusercontent.com",
		"ClientIdList": []any{"sts.amazonaws.com"},
	})
}

func TestGivenImportedProvider_ThenNoProviderIsCreated(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		if n := len(s.resources(env, "AWS::IAM::OIDCProvider")); n != 0 {
			t.Errorf("%s: creates %d OIDC providers; the account already has one", env, n)
		}
	}
}

func TestGivenAnAmiIdAndAWarmPool_ThenPoolsUseThatImageAndKeepStoppedInstances(t *testing.T) {
	s := variant(t, func(e *envConfig) {
		e.Runner.AmiID = "ami-0123456789abcdef0"
		e.Runner.AmiSsmParameter = ""
		e.Pools[1].WarmPoolSize = 2
		e.Pools[1].InstanceTypes = []string{"m7g.large"}
	})
	found := false
	for _, lt := range s.resources("dev", "AWS::EC2::LaunchTemplate") {
		if props(lt)["LaunchTemplateData"].(map[string]any)["ImageId"] == "ami-0123456789abcdef0" {
			found = true
		}
	}
	if !found {
		t.Error("no launch template uses the configured AMI")
	}
	s.template("dev").HasResourceProperties(jsii.String("AWS::AutoScaling::WarmPool"), map[string]any{
		"MinSize":   2,
		"PoolState": "Stopped",
	})
	// Auto Scaling refuses warm pools with a mixed instances policy.
	for _, g := range s.resources("dev", "AWS::AutoScaling::AutoScalingGroup") {
		if props(g)["AutoScalingGroupName"] != "synapse-ops-runners-dev-long" {
			continue
		}
		if props(g)["MixedInstancesPolicy"] != nil || props(g)["LaunchTemplate"] == nil {
			t.Errorf("warm-pool group launches through %v, want a plain launch template", props(g))
		}
	}
	var types []any
	for _, lt := range s.resources("dev", "AWS::EC2::LaunchTemplate") {
		types = append(types, props(lt)["LaunchTemplateData"].(map[string]any)["InstanceType"])
	}
	if !slices.Contains(types, any("m7g.large")) {
		t.Errorf("no launch template names the warm pool's instance type: %v", types)
	}
}
