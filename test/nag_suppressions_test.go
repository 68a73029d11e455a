package test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// starStatements are the only statements that may grant on Resource "*":
// their actions have no resource-level permissions (docs/security.md).
var starStatements = []string{"DescribeFleet", "SessionManagerAgent"}

// nagSuppression is one cdk-nag suppression in template metadata.
type nagSuppression struct {
	resource  string
	rule      string
	appliesTo []string // cdk-nag regular expressions, /.../ delimited
}

func nagSuppressions(s *synthesized, env string) []nagSuppression {
	var out []nagSuppression
	for id, r := range s.templates[env]["Resources"].(map[string]any) {
		md, _ := r.(map[string]any)["Metadata"].(map[string]any)
		nag, _ := md["cdk_nag"].(map[string]any)
		for _, rule := range asList(nag["rules_to_suppress"]) {
			rm := rule.(map[string]any)
			sup := nagSuppression{resource: id}
			sup.rule, _ = rm["id"].(string)
			for _, a := range asList(rm["applies_to"]) {
				switch x := a.(type) {
				case string:
					sup.appliesTo = append(sup.appliesTo, x)
				case map[string]any:
					re, _ := x["regex"].(string)
					sup.appliesTo = append(sup.appliesTo, re)
				}
			}
			out = append(out, sup)
		}
	}
	return out
}

// matches reports whether a cdk-nag AppliesTo entry accepts a finding text.
// A regex entry is /pattern/flags; a plain string must equal the finding.
func matches(t *testing.T, appliesTo, finding string) bool {
	t.Helper()
	if len(appliesTo) >= 2 && strings.HasPrefix(appliesTo, "/") {
		end := strings.LastIndex(appliesTo, "/")
		re, err := regexp.Compile(appliesTo[1:end])
		if err != nil {
			t.Fatalf("AppliesTo %s does not compile: %v", appliesTo, err)
		}
		return re.MatchString(finding)
	}
	return appliesTo == finding
}

func TestGivenNagSuppressions_ThenEveryWildcardSuppressionNamesItsWildcard(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		n := 0
		for _, sup := range nagSuppressions(s, env) {
			if sup.rule != "AwsSolutions-IAM5" {
				continue
			}
			n++
			if len(sup.appliesTo) == 0 {
				t.Errorf("%s %s: AwsSolutions-IAM5 suppressed for every wildcard; name the accepted ones in AppliesTo", env, sup.resource)
			}
		}
		if n == 0 {
			t.Errorf("%s: no AwsSolutions-IAM5 suppression found; the metadata layout may have changed", env)
		}
	}
}

// starGrants lists, per policy or role logical id, the Sids (or keys) of its
// Allow statements on Resource "*".
func starGrants(t *testing.T, s *synthesized, env string) map[string][]string {
	out := map[string][]string{}
	for _, r := range s.roles(t, env) {
		for _, st := range r.Policy {
			if st.Effect == "Allow" && slices.Contains(st.Resources, "*") {
				out[r.ID] = append(out[r.ID], st.key())
			}
		}
	}
	// The policy resources carry the same suppressions as their roles.
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for id, p := range s.resources(env, typ) {
			for _, st := range parseDocument(t, props(p)["PolicyDocument"]) {
				if st.Effect == "Allow" && slices.Contains(st.Resources, "*") {
					out[id] = append(out[id], st.key())
				}
			}
		}
	}
	return out
}

func TestInvariant_OnlyNamedStatementsGrantOnStar(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		for id, keys := range starGrants(t, s, env) {
			for _, k := range keys {
				if !slices.Contains(starStatements, k) {
					t.Errorf("%s %s: statement %s grants on Resource \"*\"; scope it, or name it in starStatements and docs/security.md with the reason", env, id, k)
				}
			}
		}
	}
}

func TestGivenNagSuppressions_ThenNoneCanHideAGrantOnStar(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		grants := starGrants(t, s, env)
		for _, sup := range nagSuppressions(s, env) {
			if sup.rule != "AwsSolutions-IAM5" {
				continue
			}
			for _, a := range sup.appliesTo {
				if !matches(t, a, "Resource::*") {
					continue
				}
				// Accepting * must be said exactly: a broader pattern also
				// accepts every other wildcard on the resource.
				if a != `/^Resource::\*$/` {
					t.Errorf("%s %s: suppression %s accepts Resource::* among other wildcards; name * alone with /^Resource::\\*$/", env, sup.resource, a)
				}
				keys := grants[sup.resource]
				if len(keys) == 0 {
					t.Errorf("%s %s: suppression %s accepts Resource::* but the resource grants nothing on *: it would hide a future one", env, sup.resource, a)
				}
				for _, k := range keys {
					if !slices.Contains(starStatements, k) {
						t.Errorf("%s %s: suppression %s hides statement %s on Resource::*", env, sup.resource, a, k)
					}
				}
			}
		}
	}
}
