package test

import (
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// The permissions of issue 12 (PublishRunnerRelease on the one release
// parameter, ReadRunnerRelease for runners, SuspendProcesses only on the pool
// groups) are asserted statement by statement in iam_test.go.

func TestGivenABudget_ThenItWatchesTheFleetTagAndNotifiesTheAlarmTopic(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		budgets := s.resources(env, "AWS::Budgets::Budget")
		if len(budgets) != 1 {
			t.Fatalf("%s: %d budgets, want 1", env, len(budgets))
		}
		var topicID string
		for id := range s.resources(env, "AWS::SNS::Topic") {
			topicID = id
		}
		for _, b := range budgets {
			data := props(b)["Budget"].(map[string]any)
			limit := data["BudgetLimit"].(map[string]any)
			if limit["Amount"] != float64(e.Budget.MonthlyUsd) || limit["Unit"] != "USD" || data["TimeUnit"] != "MONTHLY" {
				t.Errorf("%s: budget %v, want %d USD a month", env, data, e.Budget.MonthlyUsd)
			}
			if got, want := jsonString(t, data["CostFilters"]), `{"TagKeyValue":["user:`+settings.TagEnvironment+`$`+env+`"]}`; got != want {
				t.Errorf("%s: cost filter %s, want %s", env, got, want)
			}
			kinds := map[string]int{}
			for _, n := range asList(props(b)["NotificationsWithSubscribers"]) {
				nm := n.(map[string]any)
				kinds[nm["Notification"].(map[string]any)["NotificationType"].(string)]++
				if subs := jsonString(t, nm["Subscribers"]); !strings.Contains(subs, `{"Address":{"Ref":"`+topicID+`"},"SubscriptionType":"SNS"}`) {
					t.Errorf("%s: notification does not reach the alarm topic: %s", env, subs)
				}
			}
			if kinds["ACTUAL"] != 2 || kinds["FORECASTED"] != 1 {
				t.Errorf("%s: notifications %v, want 2 actual and 1 forecast", env, kinds)
			}
		}
		published := false
		for _, p := range s.resources(env, "AWS::SNS::TopicPolicy") {
			js := jsonString(t, props(p))
			if strings.Contains(js, `"Service":"budgets.amazonaws.com"`) && strings.Contains(js, `"aws:SourceAccount"`) {
				published = true
			}
		}
		if !published {
			t.Errorf("%s: Budgets may not publish to the alarm topic", env)
		}
	}
}

func TestGivenVpcByExports_ThenEveryIdIsImportedAtDeployTime(t *testing.T) {
	s := committedStacks(t)
	e := committed(t)["prod"]
	if !e.Vpc.UsesExports() {
		t.Fatal("prod's committed VPC is not named by exports")
	}
	raw := string(s.raw["prod"])
	for _, sub := range e.Vpc.PrivateSubnets {
		if want := `"Fn::ImportValue": "` + e.Vpc.SubnetExport(sub) + `"`; !strings.Contains(raw, want) {
			t.Errorf("prod template lacks %s", want)
		}
	}
	for _, forbidden := range []string{"TODO", "subnet-", "vpc-0"} {
		if strings.Contains(raw, forbidden) {
			t.Errorf("prod template holds %q", forbidden)
		}
	}
}

func TestGivenRunnerCurrency_ThenAlarmsWatchDaysBehindAndRefusedDownloads(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		var behind, rejected bool
		for _, a := range s.resources(env, "AWS::CloudWatch::Alarm") {
			p := props(a)
			switch p["MetricName"] {
			case settings.MetricRunnerDaysBehind:
				behind = p["Threshold"] == float64(settings.RunnerDaysBehindAlarm) && p["ComparisonOperator"] == "GreaterThanThreshold"
			case settings.MetricRunnerDownloadRejected:
				rejected = len(asList(p["AlarmActions"])) == 1
			}
		}
		if !behind || !rejected {
			t.Errorf("%s: days-behind alarm %v, download-rejected alarm %v", env, behind, rejected)
		}
		filters := s.resources(env, "AWS::Logs::MetricFilter")
		found := false
		for _, f := range filters {
			pattern, _ := props(f)["FilterPattern"].(string)
			if strings.Contains(pattern, "runner-checksum-mismatch") && strings.Contains(pattern, "runner-download-failed") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no metric filter for refused runner downloads", env)
		}
	}
}

func TestGivenProd_ThenTheDefaultPoolRunsOnDemand(t *testing.T) {
	for _, p := range committed(t)["prod"].Pools {
		if p.Spot {
			t.Errorf("prod pool %s uses spot; a weekly deployment interrupted half-way costs more than on-demand", p.Name)
		}
	}
}
