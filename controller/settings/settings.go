// Package settings is the contract between the CDK construct that deploys the
// fleet controller and the controller binary: the construct renders a Settings
// value to JSON on the controller instance, and the binary reads it back. It has
// no dependencies so both sides can import it cheaply.
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultPath is where the controller instance's boot script writes the settings.
const DefaultPath = "/etc/synapse-ops-runners/controller.json"

// Tag keys shared by the stack, the boot script and the controller.
const (
	// TagEnvironment is on every resource of the fleet; IAM policies are scoped by it.
	TagEnvironment = "synapse-ops-runners:env"
	// TagPool is on each pool's group and instances.
	TagPool = "synapse-ops-runners:pool"
	// TagJitInstanceArn is on each JIT config parameter: only the instance with
	// that ARN may read or delete it.
	TagJitInstanceArn = "synapse-ops-runners:instance-arn"
	// TagJobStarted is the instance's own marker, set by the runner's job-started
	// hook (value: the RFC 3339 time the job started). An instance carrying it is
	// never removed for being idle. Its value is never trusted: the job itself
	// can write it (the runner role may tag its own instance), so it can only
	// make the controller more careful, never cause or delay a termination.
	TagJobStarted = "synapse-ops-runners:job-started"
	// TagJobStartedAt is the controller's own record of when an instance's job
	// started (value: RFC 3339), the time the max-runtime watchdog counts from.
	// Only the controller's role may write it; runners cannot.
	TagJobStartedAt = "synapse-ops-runners:job-started-at"
	// TagWarmReady is set by an instance entering a warm pool once it has
	// installed everything (value: RFC 3339 time). The controller continues the
	// warm instance's launch hook only then, because the group stops the
	// instance as soon as the hook is continued.
	TagWarmReady = "synapse-ops-runners:warm-ready"
	// TagJobCompleted is set by the controller on an instance when the scale set
	// reports its job completed (value: RFC 3339 time). It survives a controller
	// restart, so a finished instance is not mistaken for a busy one.
	TagJobCompleted = "synapse-ops-runners:job-completed"
	// TagMaxRuntimeWarned is set by the controller when an instance passes its
	// pool's maximum runtime and the alarm has been raised (value: RFC 3339 time).
	// The instance is terminated once the warning is MaxRuntimeGraceMinutes old.
	TagMaxRuntimeWarned = "synapse-ops-runners:max-runtime-warned"
	// TagSpotFallback is set by the controller on a pool's group while it runs
	// on-demand after a spot capacity failure. Value: "<RFC 3339 time>|<previous
	// on-demand percentage above base>", so a restarted controller can restore it.
	TagSpotFallback = "synapse-ops-runners:spot-fallback"
)

// Runner currency and group process metrics: the controller publishes the
// first two, the runner log group's metric filter the third; the stack alarms
// on them.
const (
	// MetricsNamespaceDefault is the CloudWatch namespace of the controller's
	// embedded metrics, read by the stack's alarms and dashboard.
	MetricsNamespaceDefault = "SynapseOpsRunners"
	// Controller metric names (embedded metric format, dimensions Environment and
	// Pool), defined here once for the binary and the alarms.
	MetricAssignedJobs        = "AssignedJobs"
	MetricBusyRunners         = "BusyRunners"
	MetricIdleRunners         = "IdleRunners"
	MetricDesiredCapacity     = "DesiredCapacity"
	MetricQueueToStartSeconds = "QueueToStartSeconds"
	MetricErrors              = "Errors"
	MetricRateLimitRemaining  = "GitHubRateLimitRemaining"
	MetricMaxRuntimeExceeded  = "MaxRuntimeExceeded"
	MetricSpotFallback        = "SpotFallback"
	MetricRunnersProvisioned  = "RunnersProvisioned"
	MetricInstancesSwept      = "InstancesSwept"
	// MetricSessionConflicts counts 409s on opening a scale set session.
	MetricSessionConflicts = "SessionConflicts"
	// MetricAdmissionDenied counts jobs the controller refused (docs/admission.md).
	MetricAdmissionDenied = "AdmissionDenied"
	// MetricRunnerDaysBehind is how many days the runner version in use lags:
	// the age of the oldest release newer than it (0 when it is the latest).
	MetricRunnerDaysBehind = "RunnerDaysBehind"
	// MetricSuspendedProcessDrift counts the Auto Scaling processes a pool's
	// group had resumed although they must stay suspended (fixed at once).
	MetricSuspendedProcessDrift = "SuspendedProcessDrift"
	// MetricRunnerDownloadRejected counts instances that refused a runner
	// tarball (checksum mismatch) or could not download it.
	MetricRunnerDownloadRejected = "RunnerDownloadRejected"
	// RunnerDaysBehindAlarm is the alarm threshold: GitHub stops giving jobs
	// to a runner 30 days after the next release's publication.
	RunnerDaysBehindAlarm = 25
)

// Credential kinds, matching the JSON shape of the GitHub credential secret.
const (
	CredentialApp = "app" // {"app_id": 1, "installation_id": 2, "private_key": "..."}
	CredentialPAT = "pat" // {"token": "..."}
)

// Settings is the controller's whole configuration.
type Settings struct {
	// Environment is the environment name (dev, prod).
	Environment string `json:"environment"`
	// Region is the AWS region of the fleet.
	Region string `json:"region"`
	// Repository is the ops repository ("owner/name") the scale sets are registered on.
	Repository string `json:"repository"`
	// GitHubURL is the repository URL given to the scale set client.
	GitHubURL string `json:"githubUrl"`
	// CredentialSecretArn is the Secrets Manager secret holding the GitHub App
	// key or the PAT. Only the controller's role can read it.
	CredentialSecretArn string `json:"credentialSecretArn"`
	// CredentialKind is CredentialApp or CredentialPAT.
	CredentialKind string `json:"credentialKind"`
	// JitParameterPrefix is the SSM path (ending in /) of the JIT configs; each
	// parameter is named prefix + instance id.
	JitParameterPrefix string `json:"jitParameterPrefix"`
	// EventQueueURL is the SQS queue that EventBridge fills with this fleet's
	// lifecycle-hook actions and spot interruption warnings. The controller also
	// polls the groups periodically, so a lost event only delays, never loses, work.
	EventQueueURL string `json:"eventQueueUrl"`
	// AlarmTopicArn, when set, receives the max-runtime watchdog's warnings.
	AlarmTopicArn string `json:"alarmTopicArn,omitempty"`
	// Pools are the fleets the controller manages.
	Pools []Pool `json:"pools"`
	// Account is the AWS account id, used to build the instance ARN tagged on each
	// JIT parameter.
	//
	// Default: read from the Auto Scaling group ARN.
	Account string `json:"account,omitempty"`
	// ReconcileSeconds is how often the controller describes the groups even
	// without events.
	//
	// Default: 30
	ReconcileSeconds int `json:"reconcileSeconds,omitempty"`
	// SweepSeconds is how often the sweeper runs.
	//
	// Default: 180
	SweepSeconds int `json:"sweepSeconds,omitempty"`
	// MetricsNamespace is the CloudWatch namespace of the embedded-metric-format lines.
	//
	// Default: SynapseOpsRunners
	MetricsNamespace string `json:"metricsNamespace,omitempty"`
	// RunnerRelease is how the controller keeps the runner current.
	//
	// Default: the zero value, which turns release publishing off (tests)
	RunnerRelease RunnerRelease `json:"runnerRelease,omitempty"`
}

// RunnerRelease configures the daily publication of the runner release.
type RunnerRelease struct {
	// Parameter is the SSM parameter the controller writes the release to use
	// ({version, url, sha256, publishedAt}); instances read it at boot.
	Parameter string `json:"parameter"`
	// AdoptAfterDays is how long after publication a release is adopted.
	AdoptAfterDays int `json:"adoptAfterDays"`
	// FloorVersion is the release instances use before the first publication.
	FloorVersion string `json:"floorVersion"`
	// PinnedVersion, when set, is the release instances run whatever is
	// published; the controller still measures how far behind it is.
	PinnedVersion string `json:"pinnedVersion,omitempty"`
}

// Pool is one fleet as the controller sees it.
type Pool struct {
	Name                 string   `json:"name"`
	ScaleSetName         string   `json:"scaleSetName"`
	RunnerGroup          string   `json:"runnerGroup"`
	Labels               []string `json:"labels"`
	AutoScalingGroupName string   `json:"autoScalingGroupName"`
	LaunchHookName       string   `json:"launchHookName"`
	TerminateHookName    string   `json:"terminateHookName"`
	Min                  int      `json:"min"`
	Max                  int      `json:"max"`
	MinIdle              int      `json:"minIdle"`
	Spot                 bool     `json:"spot"`
	// Kind is the pool kind (standard or long); it decides which Auto Scaling
	// processes the controller keeps suspended.
	Kind string `json:"kind,omitempty"`
	// SpotFallbackToOnDemand switches the group to on-demand after
	// InsufficientInstanceCapacity or a spot interruption.
	SpotFallbackToOnDemand bool `json:"spotFallbackToOnDemand"`
	BootGraceMinutes       int  `json:"bootGraceMinutes"`
	NoJobTimeoutMinutes    int  `json:"noJobTimeoutMinutes"`
	MaxRuntimeHours        int  `json:"maxRuntimeHours"`
	// MaxRuntimeGraceMinutes is how long after the max-runtime alarm the
	// instance is terminated.
	//
	// Default: 15
	MaxRuntimeGraceMinutes int `json:"maxRuntimeGraceMinutes,omitempty"`
	// SpotRetryMinutes is how long a pool stays on-demand after a spot fallback
	// before spot is tried again.
	//
	// Default: 60
	SpotRetryMinutes int `json:"spotRetryMinutes,omitempty"`
}

// Validate reports every missing or inconsistent field at once.
func (s Settings) Validate() error {
	var errs []error
	req := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("settings: %s: missing", field))
		}
	}
	req("environment", s.Environment)
	req("region", s.Region)
	req("repository", s.Repository)
	req("githubUrl", s.GitHubURL)
	req("credentialSecretArn", s.CredentialSecretArn)
	req("jitParameterPrefix", s.JitParameterPrefix)
	req("eventQueueUrl", s.EventQueueURL)
	if s.CredentialKind != CredentialApp && s.CredentialKind != CredentialPAT {
		errs = append(errs, fmt.Errorf("settings: credentialKind: %q is not %s or %s", s.CredentialKind, CredentialApp, CredentialPAT))
	}
	if s.JitParameterPrefix != "" && !strings.HasSuffix(s.JitParameterPrefix, "/") {
		errs = append(errs, fmt.Errorf("settings: jitParameterPrefix: %q must end with /", s.JitParameterPrefix))
	}
	if len(s.Pools) == 0 {
		errs = append(errs, errors.New("settings: pools: none"))
	}
	for i, p := range s.Pools {
		f := func(name string) string { return fmt.Sprintf("pools[%d].%s", i, name) }
		req(f("name"), p.Name)
		req(f("scaleSetName"), p.ScaleSetName)
		req(f("runnerGroup"), p.RunnerGroup)
		req(f("autoScalingGroupName"), p.AutoScalingGroupName)
		req(f("launchHookName"), p.LaunchHookName)
		if p.Max < 1 || p.Min < 0 || p.Min > p.Max || p.MinIdle < 0 || p.MinIdle > p.Max {
			errs = append(errs, fmt.Errorf("settings: %s: need 0 <= min <= max, 0 <= minIdle <= max, max >= 1 (min %d, minIdle %d, max %d)", f("max"), p.Min, p.MinIdle, p.Max))
		}
		if p.BootGraceMinutes < 1 || p.NoJobTimeoutMinutes < 1 || p.MaxRuntimeHours < 1 {
			errs = append(errs, fmt.Errorf("settings: %s: bootGraceMinutes, noJobTimeoutMinutes and maxRuntimeHours must be positive", f("name")))
		}
	}
	return errors.Join(errs...)
}

// Load reads and validates the settings file at path.
func Load(path string) (Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	var s Settings
	if err := json.Unmarshal(data, &s); err != nil {
		return Settings{}, fmt.Errorf("settings: %s: %w", path, err)
	}
	return s, s.Validate()
}
