package test

import (
	"strings"
	"testing"
)

func TestGivenAChangedUserDataLine_WhenTemplatesAreDiffed_ThenTheMessageNamesResourcePropertyAndLine(t *testing.T) {
	tpl := func(script, size string) []byte {
		return []byte(`{"Resources":{
 "Pool":{"Type":"AWS::EC2::LaunchTemplate","Properties":{"LaunchTemplateData":{"UserData":{"Fn::Base64":{"Fn::Join":["",["#!/bin/bash\nset -eu\n",{"Ref":"AWS::Region"},"\n` + script + `\necho done\n"]]}}}}},
 "Group":{"Type":"AWS::AutoScaling::AutoScalingGroup","Properties":{"MaxSize":"` + size + `"}},
 "Same":{"Type":"AWS::SQS::Queue","Properties":{}}}}`)
	}
	diff := templateDiff("dev", tpl(`sha256sum --check`, "10"), tpl(`sha256sum --check || true`, "10"))
	for _, want := range []string{
		"dev: Resources/Pool (AWS::EC2::LaunchTemplate) changed at Properties.LaunchTemplateData.UserData (decoded line 4)",
		"--- golden Resources/Pool",
		"+++ synthesized Resources/Pool",
		`-          "sha256sum --check",`,
		`+          "sha256sum --check || true",`,
		`"${AWS::Region}",`,
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	for _, unchanged := range []string{"Resources/Group", "Resources/Same"} {
		if strings.Contains(diff, unchanged) {
			t.Errorf("diff shows the unchanged %s:\n%s", unchanged, diff)
		}
	}

	diff = templateDiff("prod", tpl("x", "10"), tpl("x", "11"))
	if !strings.Contains(diff, "prod: Resources/Group (AWS::AutoScaling::AutoScalingGroup) changed at Properties.MaxSize") ||
		!strings.Contains(diff, `-    "MaxSize": "10"`) || !strings.Contains(diff, `+    "MaxSize": "11"`) {
		t.Errorf("property change not named:\n%s", diff)
	}
	if d := templateDiff("dev", tpl("x", "1"), tpl("x", "1")); d != "" {
		t.Errorf("equal templates differ: %s", d)
	}
	added := templateDiff("dev", []byte(`{"Resources":{}}`), []byte(`{"Resources":{"Q":{"Type":"AWS::SQS::Queue"}}}`))
	if !strings.Contains(added, "dev: Resources/Q (AWS::SQS::Queue) added") || !strings.Contains(added, `+  "Type": "AWS::SQS::Queue"`) {
		t.Errorf("added resource not shown:\n%s", added)
	}
}
