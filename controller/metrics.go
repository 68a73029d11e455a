package controller

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Metric names. Each line is CloudWatch embedded metric format: the CloudWatch
// agent (or Logs itself) turns it into a metric without any API call from us.
const (
	MetricAssignedJobs        = settings.MetricAssignedJobs
	MetricBusyRunners         = settings.MetricBusyRunners
	MetricIdleRunners         = settings.MetricIdleRunners
	MetricDesiredCapacity     = settings.MetricDesiredCapacity
	MetricQueueToStartSeconds = settings.MetricQueueToStartSeconds
	MetricErrors              = settings.MetricErrors
	MetricRateLimitRemaining  = settings.MetricRateLimitRemaining
	MetricMaxRuntimeExceeded  = settings.MetricMaxRuntimeExceeded
	MetricSpotFallback        = settings.MetricSpotFallback
	MetricRunnersProvisioned  = settings.MetricRunnersProvisioned
	MetricInstancesSwept      = settings.MetricInstancesSwept
	MetricSessionConflicts    = settings.MetricSessionConflicts
)

// Metrics writes embedded-metric-format JSON lines. It is safe for concurrent use.
type Metrics struct {
	mu          sync.Mutex
	w           io.Writer
	namespace   string
	environment string
	now         func() time.Time
}

// NewMetrics writes to w (stdout in AWS) under the given namespace.
func NewMetrics(w io.Writer, namespace, environment string, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	return &Metrics{w: w, namespace: namespace, environment: environment, now: now}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Put writes one line with the given values. pool may be empty for
// environment-wide metrics (the rate limit). Values are (name, unit, value).
func (m *Metrics) Put(pool string, values ...MetricValue) {
	if m == nil || len(values) == 0 || m.w == io.Discard {
		return // metrics off: nothing to encode
	}
	// Per-pool values are published under both dimension sets, so the
	// environment-wide alarms and dashboard see them without a metric math sum.
	dims := [][]string{{"Environment"}}
	doc := map[string]any{"Environment": m.environment}
	if pool != "" {
		dims = append(dims, []string{"Environment", "Pool"})
		doc["Pool"] = pool
	}
	defs := make([]emfMetric, 0, len(values))
	for _, v := range values {
		defs = append(defs, emfMetric{Name: v.Name, Unit: v.Unit})
		doc[v.Name] = v.Value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": m.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  m.namespace,
			"Dimensions": dims,
			"Metrics":    defs,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	line = append(line, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(line)
}

// MetricValue is one value of a metric line.
type MetricValue struct {
	Name  string
	Unit  string
	Value float64
}

func count(name string, v int) MetricValue {
	return MetricValue{Name: name, Unit: "Count", Value: float64(v)}
}

func seconds(name string, d time.Duration) MetricValue {
	return MetricValue{Name: name, Unit: "Seconds", Value: d.Seconds()}
}

// LockedWriter serialises writes so log lines and metric lines sharing stdout
// never interleave.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
