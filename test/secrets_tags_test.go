package test

import (
	"slices"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// secretResourcePolicies returns each secret resource policy by the secret it guards,
// as the model renders the SecretId.
func secretResourcePolicies(s *synthesized, env string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range s.resources(env, "AWS::SecretsManager::ResourcePolicy") {
		out[flatten(props(p)["SecretId"])] = props(p)
	}
	return out
}

// assertOnlyReaders checks one secret's resource policy whole: public
// policies blocked, and one statement denying the value to every principal
// but exactly the readers.
func assertOnlyReaders(t *testing.T, env, secret string, policy map[string]any, sid string, readers []string) {
	t.Helper()
	if policy == nil {
		t.Errorf("%s: secret %s has no resource policy", env, secret)
		return
	}
	if policy["BlockPublicPolicy"] != true {
		t.Errorf("%s: resource policy of %s: BlockPublicPolicy %v, want true", env, secret, policy["BlockPublicPolicy"])
	}
	got := parseDocument(t, policy["ResourcePolicy"])
	assertStatements(t, env, &role{Name: "resource policy of " + secret, Policy: got}, []statement{{
		Sid: sid, Effect: "Deny",
		Principal:  map[string][]string{"AWS": {"*"}},
		Actions:    []string{"secretsmanager:GetSecretValue"},
		Resources:  []string{"*"},
		Conditions: map[string]map[string][]string{"StringNotEquals": {"aws:PrincipalArn": readers}},
	}})
}

func TestGivenSecretResourcePolicies_ThenPublicPoliciesAreBlockedAndOnlyTheNamedPrincipalsRead(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		policies := secretResourcePolicies(s, env)
		if len(policies) != 2 {
			t.Errorf("%s: %d secret resource policies, want 2 (admin token, GitHub credential)", env, len(policies))
		}
		runner := "${" + s.logicalIDByPrefix(t, env, "AWS::IAM::Role", "RunnerRole") + ".Arn}"
		controller := "${" + s.logicalIDByPrefix(t, env, "AWS::IAM::Role", "ControllerRole") + ".Arn}"
		assertOnlyReaders(t, env, e.AdminToken.SecretName, policies[e.AdminToken.SecretName], "OnlyRunnersAndAdminsReadTheToken",
			append([]string{runner}, e.AdminToken.AdminPrincipalArns...))
		assertOnlyReaders(t, env, e.GitHubCredential.SecretName, policies[e.GitHubCredential.SecretName], "OnlyTheControllerReadsTheGitHubCredential",
			append([]string{controller}, e.GitHubCredential.AdminPrincipalArns...))
	}
}

func TestGivenBreakGlassAdminsAndACreatedToken_ThenTheyAreTheOnlyOtherReaders(t *testing.T) {
	const admin = "arn:aws:iam::449435941126:role/break-glass"
	s := variant(t, func(e *envConfig) {
		e.AdminToken.Create = true
		e.AdminToken.AdminPrincipalArns = []string{admin}
		e.GitHubCredential.AdminPrincipalArns = []string{admin}
	})
	e := committed(t)["dev"]
	policies := secretResourcePolicies(s, "dev")
	runner := "${" + s.logicalIDByPrefix(t, "dev", "AWS::IAM::Role", "RunnerRole") + ".Arn}"
	controller := "${" + s.logicalIDByPrefix(t, "dev", "AWS::IAM::Role", "ControllerRole") + ".Arn}"
	created := "${" + s.logicalIDByPrefix(t, "dev", "AWS::SecretsManager::Secret", "AdminTokenSecret") + "}"
	assertOnlyReaders(t, "dev", created, policies[created], "OnlyRunnersAndAdminsReadTheToken", []string{runner, admin})
	assertOnlyReaders(t, "dev", e.GitHubCredential.SecretName, policies[e.GitHubCredential.SecretName],
		"OnlyTheControllerReadsTheGitHubCredential", []string{controller, admin})
}

// tagValue returns the value of key in a CloudFormation tag list, and whether
// it propagates at launch (Auto Scaling groups).
func tagValue(tags any, key string) (value any, propagate any, ok bool) {
	for _, tg := range asList(tags) {
		m := tg.(map[string]any)
		if m["Key"] == key {
			return m["Value"], m["PropagateAtLaunch"], true
		}
	}
	return nil, nil, false
}

func TestGivenEachEnvironment_ThenGroupsLaunchTemplatesAndInstancesCarryItsTag(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		groups := s.resources(env, "AWS::AutoScaling::AutoScalingGroup")
		if len(groups) != len(e.Pools)+1 {
			t.Errorf("%s: %d groups, want %d pools and the controller", env, len(groups), len(e.Pools))
		}
		for id, g := range groups {
			v, propagate, ok := tagValue(props(g)["Tags"], settings.TagEnvironment)
			if !ok || v != env || propagate != true {
				t.Errorf("%s group %s: %s=%v (propagate at launch %v), want %s propagated to its instances", env, id, settings.TagEnvironment, v, propagate, env)
			}
		}
		templates := s.resources(env, "AWS::EC2::LaunchTemplate")
		if len(templates) != len(e.Pools)+1 {
			t.Errorf("%s: %d launch templates, want %d pools and the controller", env, len(templates), len(e.Pools))
		}
		for id, lt := range templates {
			p := props(lt)
			seen := map[string]bool{}
			specs := asList(p["TagSpecifications"])
			specs = append(specs, asList(p["LaunchTemplateData"].(map[string]any)["TagSpecifications"])...)
			for _, spec := range specs {
				m := spec.(map[string]any)
				typ := m["ResourceType"].(string)
				if v, _, ok := tagValue(m["Tags"], settings.TagEnvironment); ok && v == env {
					seen[typ] = true
				}
			}
			for _, typ := range []string{"launch-template", "instance", "volume"} {
				if !seen[typ] {
					t.Errorf("%s launch template %s: its %s resources do not carry %s=%s", env, id, typ, settings.TagEnvironment, env)
				}
			}
		}
		if !slices.Contains(envNames, env) {
			t.Fatal("unreachable")
		}
	}
}
