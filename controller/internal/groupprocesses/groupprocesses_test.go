package groupprocesses

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRequired_GivenPoolKinds_ThenAZRebalanceAlwaysAndInstanceRefreshForLong(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want []string
	}{
		{"standard", []string{"AZRebalance"}},
		{"", []string{"AZRebalance"}},
		{"long", []string{"AZRebalance", "InstanceRefresh"}},
	} {
		if got := Required(tc.kind); !slices.Equal(got, tc.want) {
			t.Errorf("Required(%q) = %v, want %v", tc.kind, got, tc.want)
		}
	}
}

func TestMissing_GivenSuspendedLists_ThenOnlyRequiredOnesNotSuspended(t *testing.T) {
	for _, tc := range []struct {
		required, suspended, want []string
	}{
		{[]string{"AZRebalance"}, nil, []string{"AZRebalance"}},
		{[]string{"AZRebalance"}, []string{"AZRebalance", "Launch"}, nil},
		{[]string{"AZRebalance", "InstanceRefresh"}, []string{"InstanceRefresh"}, []string{"AZRebalance"}},
		{nil, []string{"AZRebalance"}, nil},
	} {
		if got := Missing(tc.required, tc.suspended); !slices.Equal(got, tc.want) {
			t.Errorf("Missing(%v, %v) = %v, want %v", tc.required, tc.suspended, got, tc.want)
		}
	}
}

func TestEnsure_GivenResumedProcesses_ThenSuspendsThemAndReportsDrift(t *testing.T) {
	f := &fakeAutoScaling{suspended: map[string][]string{
		"fleet-default": {},
		"fleet-long":    {"AZRebalance", "Launch"},
	}}
	groups := []Group{{"fleet-default", "standard"}, {"fleet-long", "long"}}
	drifts, err := Ensure(context.Background(), f, groups)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(drifts); got != "[{fleet-default [AZRebalance] <nil>} {fleet-long [InstanceRefresh] <nil>}]" {
		t.Errorf("drift %s", got)
	}
	if !slices.Contains(f.suspended["fleet-default"], "AZRebalance") || !slices.Contains(f.suspended["fleet-long"], "InstanceRefresh") {
		t.Errorf("not suspended: %v", f.suspended)
	}
	// A second pass finds nothing to do and calls nothing but describe.
	calls := f.suspendCalls
	drifts, err = Ensure(context.Background(), f, groups)
	if err != nil || f.suspendCalls != calls {
		t.Fatalf("second pass: %v, %d suspend calls", err, f.suspendCalls-calls)
	}
	for _, d := range drifts {
		if len(d.Resumed) != 0 {
			t.Errorf("second pass drift %v", d)
		}
	}
}

func TestEnsure_GivenMoreGroupsThanAPage_ThenEveryPageIsRead(t *testing.T) {
	f := &fakeAutoScaling{suspended: map[string][]string{}, pageSize: 2}
	var groups []Group
	for i := range 5 {
		name := fmt.Sprintf("g%d", i)
		f.suspended[name] = nil
		groups = append(groups, Group{name, "standard"})
	}
	drifts, err := Ensure(context.Background(), f, groups)
	if err != nil {
		t.Fatal(err)
	}
	if f.describes != 3 {
		t.Errorf("%d describe calls, want 3 pages", f.describes)
	}
	for _, d := range drifts {
		if !slices.Equal(d.Resumed, []string{"AZRebalance"}) {
			t.Errorf("drift %v", d)
		}
	}
}

func TestEnsure_GivenAMissingGroup_ThenItIsAnErrorAndTheOthersAreStillFixed(t *testing.T) {
	f := &fakeAutoScaling{suspended: map[string][]string{"present": nil}}
	drifts, err := Ensure(context.Background(), f, []Group{{"absent", "standard"}, {"present", "standard"}})
	if err == nil || !strings.Contains(err.Error(), "group absent not found") {
		t.Fatalf("error %v, want the absent group named", err)
	}
	if !slices.Contains(f.suspended["present"], "AZRebalance") || drifts[1].Err != nil {
		t.Errorf("the present group was not fixed: %v %v", f.suspended, drifts)
	}
}

func TestEnsure_GivenAPIErrors_ThenTheyAreReturnedWithTheGroup(t *testing.T) {
	f := &fakeAutoScaling{suspended: map[string][]string{"a": nil, "b": nil}, suspendErr: map[string]error{"a": errThrottled}}
	drifts, err := Ensure(context.Background(), f, []Group{{"a", "standard"}, {"b", "standard"}})
	if err == nil || !strings.Contains(err.Error(), "on a: api error Throttling") {
		t.Fatalf("error %v", err)
	}
	if drifts[0].Err == nil || drifts[1].Err != nil || !slices.Contains(f.suspended["b"], "AZRebalance") {
		t.Errorf("drifts %v suspended %v", drifts, f.suspended)
	}

	f = &fakeAutoScaling{suspended: map[string][]string{"a": nil}, describeErr: errThrottled}
	if _, err := Ensure(context.Background(), f, []Group{{"a", "standard"}}); err == nil || f.suspendCalls != 0 {
		t.Errorf("describe failure: err %v, %d suspend calls (want none: unknown is not drift)", err, f.suspendCalls)
	}
}
