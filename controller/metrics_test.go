package controller

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestGivenAPoolMetric_WhenPut_ThenTheLineIsEmbeddedMetricFormatUnderBothDimensionSets(t *testing.T) {
	var out bytes.Buffer
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := NewMetrics(&out, "SynapseOpsRunners", "dev", func() time.Time { return at })
	m.Put("long", count(MetricAssignedJobs, 3))

	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, out.String())
	}
	if doc["Environment"] != "dev" || doc["Pool"] != "long" || doc[MetricAssignedJobs] != float64(3) {
		t.Errorf("values: %v", doc)
	}
	aws := doc["_aws"].(map[string]any)
	if aws["Timestamp"] != float64(at.UnixMilli()) {
		t.Errorf("timestamp %v", aws["Timestamp"])
	}
	cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if cw["Namespace"] != "SynapseOpsRunners" {
		t.Errorf("namespace %v", cw["Namespace"])
	}
	dims, _ := json.Marshal(cw["Dimensions"])
	if string(dims) != `[["Environment"],["Environment","Pool"]]` {
		t.Errorf("dimensions %s: the environment-wide alarms need the Environment-only set", dims)
	}
}

func TestGivenAnEnvironmentMetric_WhenPut_ThenOnlyTheEnvironmentDimensionIsUsed(t *testing.T) {
	var out bytes.Buffer
	m := NewMetrics(&out, "SynapseOpsRunners", "prod", time.Now)
	m.Put("", count(MetricRateLimitRemaining, 4999))
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if _, has := doc["Pool"]; has {
		t.Errorf("environment metric carries a pool: %v", doc)
	}
	cw := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dims, _ := json.Marshal(cw["Dimensions"]); string(dims) != `[["Environment"]]` {
		t.Errorf("dimensions %s", dims)
	}
}
