// Package latency holds the delays the fleet simulator models, each a
// distribution with the source it was taken from. Queue-to-start times the
// simulator reports are sums of these draws and are labelled "modelled": the
// real figure comes from the QueueToStartSeconds metric after a deploy, and the
// sources below say where each estimate should be checked.
package latency

import (
	"math"
	"math/rand/v2"
	"time"
)

// Dist is a distribution of delays.
type Dist struct {
	// Median and P95 fix a log-normal distribution; equal values make it constant.
	Median, P95 time.Duration
	// Max caps a draw, so one unlucky draw cannot stall a simulated week.
	Max time.Duration
}

// z95 is the standard normal quantile of 0.95.
const z95 = 1.6448536269514722

// Sample draws one delay, rounded to the millisecond so reports do not depend
// on floating-point noise.
func (d Dist) Sample(r *rand.Rand) time.Duration {
	if d.P95 <= d.Median || d.Median <= 0 {
		return d.Median
	}
	sigma := math.Log(float64(d.P95)/float64(d.Median)) / z95
	v := time.Duration(float64(d.Median) * math.Exp(sigma*r.NormFloat64()))
	if d.Max > 0 && v > d.Max {
		v = d.Max
	}
	return max(v.Round(time.Millisecond), time.Millisecond)
}

// Fixed returns the distribution collapsed to its median.
func (d Dist) Fixed() Dist { return Dist{Median: d.Median, P95: d.Median, Max: d.Median} }

// Model is every delay between a job being queued and its first step running.
type Model struct {
	// MessageDelay: from a job being queued to the scale set message (the
	// assigned-jobs statistic) reaching the controller's long poll.
	// Source: GitHub's broker answers an open long poll as soon as a message
	// exists; community discussion #209463 (github.com/orgs/community) shows
	// occasional waits of about 60 s before GitHub offers a job at all, hence
	// the tail.
	MessageDelay Dist
	// ScalingActivity: from SetDesiredCapacity to the group's RunInstances call.
	// Source: estimate; the group's activity history (StartTime of the launch
	// activity minus the API call in CloudTrail) gives the real figure.
	ScalingActivity Dist
	// BootToUserData: from RunInstances to the first line of user data on
	// Amazon Linux 2023 arm64 (pending, kernel, cloud-init).
	// Source: RunsOn's published figure of under 25 s queue time with a
	// pre-built image (design brief, section 8) bounds boot from below; our
	// stock image adds cloud-init's package metadata refresh.
	BootToUserData Dist
	// RunnerInstall: boot.sh's dnf install of the pool's packages, the
	// CloudWatch agent and the runner tarball download and checksum.
	// Source: estimate from the steps of constructs/runnerpool/boot.sh; the
	// runner log's first line minus the instance's launch time measures it.
	RunnerInstall Dist
	// WarmStart replaces BootToUserData and RunnerInstall for an instance
	// started from the warm pool (stopped, everything installed).
	// Source: RunsOn's published 15 s queue time from a stopped pool (design
	// brief, section 8).
	WarmStart Dist
	// JitHandover: from the launch hook's event to the instance starting the
	// runner with its JIT config: EventBridge to SQS, the controller's
	// PutParameter and CompleteLifecycleAction, and boot.sh polling SSM
	// every 3 s (read_jit_config).
	// Source: boot.sh's 3 s poll interval plus an estimate of the API calls.
	JitHandover Dist
	// Assignment: from the runner connecting to GitHub to its job starting.
	// Source: estimate; community discussion #209463 reports jobs offered to
	// idle runners only after about 60 s in some cases, hence the tail.
	Assignment Dist
	// BusyFlagLag: how long GitHub's runner list keeps reporting busy=false
	// after a job has started on the runner.
	// Source: terraform-aws-github-runner issue #5085 (a runner terminated 13 s
	// after its job started) and pull request #5228 (the flag read false for 25
	// to 60+ s after the job started).
	BusyFlagLag Dist
	// ManagedProvisioning: a managed per-job runner's provisioning phase.
	// Source: AWS CodeBuild's PROVISIONING phase; aws-codebuild-docker-images
	// issue #793 reports 180 to 190 s for the Amazon Linux 2023 arm64 image,
	// practitioners report about 60 s for x86.
	ManagedProvisioning Dist
}

// Default is the model every report uses unless a test asks otherwise.
func Default() Model {
	return Model{
		MessageDelay:        Dist{Median: 2 * time.Second, P95: 10 * time.Second, Max: 90 * time.Second},
		ScalingActivity:     Dist{Median: 5 * time.Second, P95: 20 * time.Second, Max: 2 * time.Minute},
		BootToUserData:      Dist{Median: 30 * time.Second, P95: 60 * time.Second, Max: 5 * time.Minute},
		RunnerInstall:       Dist{Median: 90 * time.Second, P95: 180 * time.Second, Max: 10 * time.Minute},
		WarmStart:           Dist{Median: 15 * time.Second, P95: 30 * time.Second, Max: 2 * time.Minute},
		JitHandover:         Dist{Median: 4 * time.Second, P95: 10 * time.Second, Max: time.Minute},
		Assignment:          Dist{Median: 3 * time.Second, P95: 15 * time.Second, Max: 90 * time.Second},
		BusyFlagLag:         Dist{Median: 30 * time.Second, P95: 60 * time.Second, Max: 3 * time.Minute},
		ManagedProvisioning: Dist{Median: 120 * time.Second, P95: 190 * time.Second, Max: 10 * time.Minute},
	}
}

// Fixed is the model with every distribution collapsed to its median, for
// tests that check the simulator adds the delays up correctly.
func (m Model) Fixed() Model {
	return Model{
		MessageDelay:        m.MessageDelay.Fixed(),
		ScalingActivity:     m.ScalingActivity.Fixed(),
		BootToUserData:      m.BootToUserData.Fixed(),
		RunnerInstall:       m.RunnerInstall.Fixed(),
		WarmStart:           m.WarmStart.Fixed(),
		JitHandover:         m.JitHandover.Fixed(),
		Assignment:          m.Assignment.Fixed(),
		BusyFlagLag:         m.BusyFlagLag.Fixed(),
		ManagedProvisioning: m.ManagedProvisioning.Fixed(),
	}
}

// ColdStart is the median queue-to-start of a job that needs a new instance:
// the message, the scaling activity, boot, install, hand-over and assignment.
func (m Model) ColdStart() time.Duration {
	return m.MessageDelay.Median + m.ScalingActivity.Median + m.BootToUserData.Median +
		m.RunnerInstall.Median + m.JitHandover.Median + m.Assignment.Median
}
