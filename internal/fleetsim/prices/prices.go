// Package prices is the committed price table the fleet simulator costs runs
// with. The table carries the date it was transcribed; every report prints it.
package prices

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

//go:embed prices.json
var table []byte

// Table is the price table.
type Table struct {
	// Date is when the prices were transcribed (YYYY-MM-DD).
	Date string `json:"date"`
	// Region the prices apply to.
	Region   string `json:"region"`
	Currency string `json:"currency"`
	// Note says where each price comes from and what is left out.
	Note string `json:"note"`
	// EC2 is per instance type, USD per instance-hour.
	EC2 map[string]EC2Price `json:"ec2"`
	// Managed is the managed per-job runner service.
	Managed Managed `json:"managed"`
}

// EC2Price is the hourly price of one instance type.
type EC2Price struct {
	OnDemand float64 `json:"onDemand"`
	Spot     float64 `json:"spot"`
}

// Managed prices a managed per-job runner service.
type Managed struct {
	Name string `json:"name"`
	// PerMinute is USD per started build minute.
	PerMinute float64 `json:"perMinute"`
	// Billing describes what is billed.
	Billing string `json:"billing"`
	// MaxBuild is the service's build time cap: a job still running then is killed.
	MaxBuild string `json:"maxBuild"`
}

// Default returns the committed table.
func Default() Table {
	var t Table
	dec := json.NewDecoder(bytes.NewReader(table))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		panic(fmt.Sprintf("prices: committed table is invalid: %v", err)) // a test guards this
	}
	return t
}

// Hourly returns the price per hour of an instance type and purchase option.
func (t Table) Hourly(instanceType string, spot bool) (float64, error) {
	p, ok := t.EC2[instanceType]
	if !ok {
		return 0, fmt.Errorf("prices: no price for instance type %q (table of %s); add it to internal/fleetsim/prices/prices.json with its on-demand and spot price", instanceType, t.Date)
	}
	if spot {
		return p.Spot, nil
	}
	return p.OnDemand, nil
}

// Check reports every instance type the table lacks.
func (t Table) Check(types []string) error {
	var missing []string
	for _, it := range types {
		if _, ok := t.EC2[it]; !ok && !slices.Contains(missing, it) {
			missing = append(missing, it)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("prices: no price for instance types %s (table of %s); add them to internal/fleetsim/prices/prices.json", strings.Join(missing, ", "), t.Date)
	}
	return nil
}

// MaxBuildDuration returns the managed service's build cap.
func (m Managed) MaxBuildDuration() time.Duration {
	d, err := time.ParseDuration(m.MaxBuild)
	if err != nil {
		panic(fmt.Sprintf("prices: managed.maxBuild %q: %v", m.MaxBuild, err)) // a test guards this
	}
	return d
}

// ManagedCost is the bill of one managed build lasting d.
func (m Managed) Cost(d time.Duration) float64 {
	return math.Ceil(d.Minutes()) * m.PerMinute
}
