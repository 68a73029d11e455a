package test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestGivenCdkNagPacks_WhenEachStackIsChecked_ThenNoUnsuppressedErrorRemains(t *testing.T) {
	s := committedStacks(t) // synthesized with withNagPacks
	for _, env := range envNames {
		annotations := assertions.Annotations_FromStack(s.stacks[env].Stack)
		checked := 0
		for _, pack := range []string{"AwsSolutions-.*", "HIPAA.Security-.*", "NIST.800.53.R5-.*"} {
			errs := annotations.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(pack)))
			for _, e := range *errs {
				t.Errorf("%s: %v: %v", env, *e.Id, e.Entry.Data)
			}
			// Warnings show the packs ran at all.
			checked += len(*annotations.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(pack))))
		}
		if checked == 0 {
			t.Errorf("%s: no cdk-nag annotation at all; the packs did not run", env)
		}
	}
}

func TestGivenNagSuppressions_ThenEachIsPerResourceAndNamesRuleAndReason(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		tpl := s.templates[env]
		if md, ok := tpl["Metadata"].(map[string]any); ok {
			if _, blanket := md["cdk_nag"]; blanket {
				t.Errorf("%s: stack-wide cdk-nag suppression: %v", env, md["cdk_nag"])
			}
		}
		count := 0
		for id, r := range tpl["Resources"].(map[string]any) {
			md, _ := r.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := md["cdk_nag"].(map[string]any)
			for _, rule := range asList(nag["rules_to_suppress"]) {
				count++
				rm := rule.(map[string]any)
				ruleID, _ := rm["id"].(string)
				reason, _ := rm["reason"].(string)
				if !strings.HasPrefix(ruleID, "AwsSolutions-") && !strings.HasPrefix(ruleID, "HIPAA.Security-") && !strings.HasPrefix(ruleID, "NIST.800.53.R5-") {
					t.Errorf("%s %s: suppression %v does not name a rule", env, id, rm)
				}
				if len(reason) < 20 {
					t.Errorf("%s %s: suppression of %s has no real reason: %q", env, id, ruleID, reason)
				}
			}
		}
		if count == 0 {
			t.Errorf("%s: no suppressions found; the metadata layout may have changed", env)
		}
	}
}
