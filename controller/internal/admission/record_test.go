package admission_test

import (
	"context"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/internal/admission"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/fleetsim/world"
)

func TestRecorder_AgainstTheWorldsParameterStore(t *testing.T) {
	w := world.New(world.Options{})
	r := admission.Recorder{SSM: w.SSM, Prefix: "/synapse-ops-runners/dev/admission/", Environment: "dev",
		TagEnvironment: settings.TagEnvironment, TagInstanceArn: settings.TagJitInstanceArn}
	ctx := context.Background()
	const id, arn = "i-0123456789abcdef0", "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
	name := "/synapse-ops-runners/dev/admission/" + id
	value := func() admission.Verdict {
		t.Helper()
		w.Mu.Lock()
		p, ok := w.Params[name]
		w.Mu.Unlock()
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		if p.Tags[settings.TagJitInstanceArn] != arn || p.Tags[settings.TagEnvironment] != "dev" {
			t.Errorf("tags %v: the runner could not read it, or another instance could", p.Tags)
		}
		if p.Tier != ssmtypes.ParameterTierStandard {
			t.Errorf("tier %s: a verdict fits a Standard parameter", p.Tier)
		}
		v, err := admission.Parse(p.Value)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	allow := admission.Verdict{Allow: true, Rule: admission.RuleAdmitted, Reason: "ok"}
	deny := admission.Verdict{Rule: admission.RuleBranches, Reason: "feature"}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Record(ctx, id, arn, allow))
	if !value().Allow {
		t.Fatal("allow not recorded")
	}
	must(r.Record(ctx, id, arn, allow)) // a repeated message
	must(r.Record(ctx, id, arn, deny))
	if v := value(); v.Allow || v.Rule != admission.RuleBranches {
		t.Fatalf("a deny did not replace the allow: %+v", v)
	}
	must(r.Record(ctx, id, arn, allow))
	if value().Allow {
		t.Fatal("a later allow lifted a refusal")
	}
	must(r.Delete(ctx, id))
	must(r.Delete(ctx, id)) // already gone
	w.Mu.Lock()
	_, left := w.Params[name]
	w.Mu.Unlock()
	if left {
		t.Error("verdict not deleted")
	}
}
