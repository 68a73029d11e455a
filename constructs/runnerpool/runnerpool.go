// Package runnerpool creates one fleet of ephemeral runners: an EC2 Auto Scaling
// group over a hardened launch template, with the lifecycle hooks the fleet
// controller drives and the boot script that runs exactly one job per instance.
package runnerpool

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/hardened"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

//go:embed boot.sh
var bootScript string

// admissionHook is the job-started hook that waits for the controller's verdict.
//
//go:embed admission-hook.sh
var admissionHook string

//go:embed fetch-runner.sh
var fetchRunnerScript string

// Props configures RunnerPool.
type Props struct {
	// EnvironmentName is the environment (dev, prod).
	EnvironmentName string
	// Region is the environment's region.
	Region string
	// Pool is the pool's configuration, with defaults applied.
	Pool config.Pool
	// Runner is the runner floor, an optional pin, and the machine image.
	Runner config.Runner
	// RunnerReleaseParameter is the SSM parameter the controller publishes the
	// runner release to; instances read it at boot.
	RunnerReleaseParameter string
	// AutoScalingGroupName is the group's fixed name.
	AutoScalingGroupName string
	// Vpc, Subnets and SecurityGroup place the instances.
	Vpc           awsec2.IVpc
	Subnets       *awsec2.SubnetSelection
	SecurityGroup awsec2.ISecurityGroup
	// Role is the runner instance role.
	Role awsiam.IRole
	// LogGroupName receives boot, runner and job logs.
	LogGroupName string
	// JitParameterPrefix is the SSM path the controller writes JIT configs to.
	JitParameterPrefix string
	// DeploymentRoleArn is assumed by the instance's synapse-deployment AWS profile.
	DeploymentRoleArn string
	// JitWaitSeconds is how long a new instance waits for its JIT config.
	//
	// Default: the pool's boot grace
	JitWaitSeconds int
	// AdmissionParameterPrefix is the SSM path the controller writes each
	// instance's admission verdict under. When set, the runner's job-started
	// hook fails every job the controller did not admit.
	//
	// Default: none (no admission hook; only until the controller writes verdicts)
	AdmissionParameterPrefix string
	// AdmissionWaitSeconds is how long the hook waits for the verdict.
	//
	// Default: config.DefaultAdmissionWaitSeconds
	AdmissionWaitSeconds int
}

// RunnerPool is one pool's group and launch template.
type RunnerPool struct {
	constructs.Construct
	// AutoScalingGroup is the pool's group.
	AutoScalingGroup awsautoscaling.AutoScalingGroup
	// LaunchTemplate is the hardened template the group launches from.
	LaunchTemplate awsec2.LaunchTemplate
	// LaunchHookName is the hook that holds new instances until the controller
	// has written their JIT config.
	LaunchHookName string
	// TerminateHookName is the hook that lets the controller deregister a runner
	// (and, for long pools, delay termination while a job runs).
	TerminateHookName string
}

// New creates the pool.
func New(scope constructs.Construct, id string, props Props) *RunnerPool {
	this := constructs.NewConstruct(scope, jsii.String(id))
	pool := props.Pool
	if props.JitWaitSeconds == 0 {
		props.JitWaitSeconds = pool.BootGraceMinutes * 60
	}

	userData := awsec2.UserData_Custom(jsii.String(UserData(props)))
	var image awsec2.IMachineImage
	if props.Runner.AmiID != "" {
		image = awsec2.MachineImage_GenericLinux(&map[string]*string{
			props.Region: jsii.String(props.Runner.AmiID),
		}, &awsec2.GenericLinuxImageProps{UserData: userData})
	} else {
		// Resolved by CloudFormation at deploy time: no lookup at synth.
		image = awsec2.MachineImage_FromSsmParameter(jsii.String(props.Runner.AmiSsmParameter), &awsec2.SsmParameterImageOptions{
			Os:       awsec2.OperatingSystemType_LINUX,
			UserData: userData,
		})
	}

	// Auto Scaling refuses a warm pool on a group with a mixed instances policy,
	// so a warm-pool pool (on-demand, one type: config enforces it) launches
	// straight from a template that names its type.
	warm := pool.WarmPoolSize > 0
	ltProps := hardened.Props{
		MachineImage:  image,
		UserData:      userData,
		Role:          props.Role,
		SecurityGroup: props.SecurityGroup,
		VolumeSizeGiB: pool.VolumeSizeGiB,
	}
	if warm {
		ltProps.InstanceType = pool.InstanceTypes[0]
	}
	lt := hardened.NewLaunchTemplate(this, "LaunchTemplate", ltProps)

	var overrides []*awsautoscaling.LaunchTemplateOverrides
	for _, it := range pool.InstanceTypes {
		overrides = append(overrides, &awsautoscaling.LaunchTemplateOverrides{InstanceType: awsec2.NewInstanceType(jsii.String(it))})
	}
	distribution := &awsautoscaling.InstancesDistribution{
		OnDemandAllocationStrategy:          awsautoscaling.OnDemandAllocationStrategy_PRIORITIZED,
		OnDemandBaseCapacity:                jsii.Number(float64(pool.OnDemandBaseCapacity)),
		OnDemandPercentageAboveBaseCapacity: jsii.Number(100),
	}
	if pool.Spot {
		distribution.OnDemandPercentageAboveBaseCapacity = jsii.Number(0)
		distribution.SpotAllocationStrategy = awsautoscaling.SpotAllocationStrategy_CAPACITY_OPTIMIZED
	}

	asgProps := &awsautoscaling.AutoScalingGroupProps{
		AutoScalingGroupName: jsii.String(props.AutoScalingGroupName),
		Vpc:                  props.Vpc,
		VpcSubnets:           props.Subnets,
		MinCapacity:          jsii.Number(float64(pool.Min)),
		MaxCapacity:          jsii.Number(float64(pool.Max)),
		// The controller owns desired capacity; a deploy must not reset it.
		// A runner with a job must never be chosen for scale-in.
		NewInstancesProtectedFromScaleIn: jsii.Bool(true),
		// Capacity rebalancing would replace (and so terminate) busy spot runners.
		CapacityRebalance: jsii.Bool(false),
		GroupMetrics:      &[]awsautoscaling.GroupMetrics{awsautoscaling.GroupMetrics_All()},
		HealthChecks:      awsautoscaling.HealthChecks_Ec2(&awsautoscaling.Ec2HealthChecksOptions{GracePeriod: awscdk.Duration_Minutes(jsii.Number(float64(pool.BootGraceMinutes)))}),
	}
	if warm {
		asgProps.LaunchTemplate = lt
	} else {
		asgProps.MixedInstancesPolicy = &awsautoscaling.MixedInstancesPolicy{
			LaunchTemplate:          lt,
			LaunchTemplateOverrides: &overrides,
			InstancesDistribution:   distribution,
		}
	}
	if pool.MaxInstanceLifetimeHours > 0 && !pool.IsLong() {
		asgProps.MaxInstanceLifetime = awscdk.Duration_Hours(jsii.Number(float64(pool.MaxInstanceLifetimeHours)))
	}
	asg := awsautoscaling.NewAutoScalingGroup(this, jsii.String("Group"), asgProps)
	awscdk.Tags_Of(asg).Add(jsii.String(settings.TagPool), jsii.String(pool.Name), nil)

	launchHook := props.AutoScalingGroupName + "-launch"
	terminateHook := props.AutoScalingGroupName + "-terminate"
	asg.AddLifecycleHook(jsii.String("LaunchHook"), &awsautoscaling.BasicLifecycleHookProps{
		LifecycleHookName:   jsii.String(launchHook),
		LifecycleTransition: awsautoscaling.LifecycleTransition_INSTANCE_LAUNCHING,
		// No JIT config in time: the group discards the instance.
		DefaultResult:    awsautoscaling.DefaultResult_ABANDON,
		HeartbeatTimeout: awscdk.Duration_Minutes(jsii.Number(float64(pool.BootGraceMinutes))),
	})
	// The controller heartbeats this hook first on every pass for any instance
	// not known idle, and completes it once GitHub confirms no job runs. The
	// heartbeat timeout (15 min standard, 2 h long) is how long a busy runner
	// survives a controller outage. Auto Scaling ends any action after
	// min(100 x heartbeat timeout, 48 h) however many heartbeats it gets: 25 h
	// for a standard pool, 48 h for a long one, which is why config refuses a
	// maxRuntimeHours the hook could not hold (config.Pool.TerminateHookHold).
	terminateTimeout := awscdk.Duration_Minutes(jsii.Number(pool.TerminateHookTimeout().Minutes()))
	asg.AddLifecycleHook(jsii.String("TerminateHook"), &awsautoscaling.BasicLifecycleHookProps{
		LifecycleHookName:   jsii.String(terminateHook),
		LifecycleTransition: awsautoscaling.LifecycleTransition_INSTANCE_TERMINATING,
		DefaultResult:       awsautoscaling.DefaultResult_CONTINUE,
		HeartbeatTimeout:    terminateTimeout,
	})
	if pool.WarmPoolSize > 0 {
		asg.AddWarmPool(&awsautoscaling.WarmPoolOptions{
			MinSize:   jsii.Number(float64(pool.WarmPoolSize)),
			PoolState: awsautoscaling.PoolState_STOPPED,
		})
	}
	// AZRebalance (which terminates instances to even out zones, busy or not)
	// is suspended by the fleet controller at start and on every reconcile:
	// CloudFormation has no property for it, and a custom resource would add a
	// Lambda function to the stack.

	return &RunnerPool{
		Construct:         this,
		AutoScalingGroup:  asg,
		LaunchTemplate:    lt,
		LaunchHookName:    launchHook,
		TerminateHookName: terminateHook,
	}
}

// UserData renders the instance's user data: the pool's settings as an
// environment file, the boot script, and the systemd unit that runs it at every
// boot. It holds no token and no secret: the JIT config comes from SSM at run time.
func UserData(props Props) string {
	pool := props.Pool
	packages := append([]string(nil), pool.Packages...)
	sort.Strings(packages)
	env := [][2]string{
		{"AWS_REGION", props.Region},
		{"FLEET_ENV", props.EnvironmentName},
		{"POOL_NAME", pool.Name},
		{"ASG_NAME", props.AutoScalingGroupName},
		{"JIT_PARAMETER_PREFIX", props.JitParameterPrefix},
		{"JIT_WAIT_SECONDS", fmt.Sprint(props.JitWaitSeconds)},
		{"LOG_GROUP", props.LogGroupName},
		{"RUNNER_RELEASE_PARAMETER", props.RunnerReleaseParameter},
		{"RUNNER_FLOOR_VERSION", props.Runner.MinimumVersion},
		{"RUNNER_FLOOR_SHA256", props.Runner.MinimumSHA256},
		{"RUNNER_PIN_VERSION", props.Runner.Version},
		{"RUNNER_PIN_SHA256", props.Runner.SHA256},
		{"PACKAGES", strings.Join(packages, " ")},
		{"DEPLOYMENT_ROLE_ARN", props.DeploymentRoleArn},
		{"JOB_STARTED_TAG", settings.TagJobStarted},
		{"WARM_READY_TAG", settings.TagWarmReady},
	}
	if props.AdmissionParameterPrefix != "" {
		if props.AdmissionWaitSeconds == 0 {
			props.AdmissionWaitSeconds = config.DefaultAdmissionWaitSeconds
		}
		env = append(env,
			[2]string{"ADMISSION_PARAMETER_PREFIX", props.AdmissionParameterPrefix},
			[2]string{"ADMISSION_WAIT_SECONDS", fmt.Sprint(props.AdmissionWaitSeconds)})
	}
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	b.WriteString("# synapse-ops-runners: ephemeral runner instance (no secrets in this file)\n")
	b.WriteString("set -euo pipefail\n")
	b.WriteString("install -d -m 0755 /etc/synapse-ops-runners /opt/synapse-ops-runners\n")
	b.WriteString("cat > /etc/synapse-ops-runners/runner.env <<'ENV'\n")
	for _, kv := range env {
		fmt.Fprintf(&b, "%s=\"%s\"\n", kv[0], kv[1])
	}
	b.WriteString("ENV\n")
	b.WriteString("cat > /opt/synapse-ops-runners/boot.sh <<'BOOT'\n")
	b.WriteString(shipped(bootScript))
	b.WriteString("BOOT\n")
	b.WriteString("cat > /opt/synapse-ops-runners/fetch-runner.sh <<'FETCH'\n")
	b.WriteString(shipped(fetchRunnerScript))
	b.WriteString("FETCH\n")
	b.WriteString("chmod 0755 /opt/synapse-ops-runners/boot.sh /opt/synapse-ops-runners/fetch-runner.sh\n")
	if props.AdmissionParameterPrefix != "" {
		// Written by root into a root-owned directory: the runner user (and so
		// any job) can read and run it, never change it.
		b.WriteString("cat > /opt/synapse-ops-runners/admission-hook.sh <<'HOOK'\n")
		b.WriteString(shipped(admissionHook))
		b.WriteString("HOOK\n")
		b.WriteString("chmod 0755 /opt/synapse-ops-runners/admission-hook.sh\n")
	}
	b.WriteString("cat > /etc/systemd/system/synapse-ops-runner.service <<'UNIT'\n")
	b.WriteString("[Unit]\nDescription=Ephemeral GitHub Actions runner (one job)\nAfter=network-online.target\nWants=network-online.target\n\n")
	b.WriteString("[Service]\nType=simple\nEnvironmentFile=/etc/synapse-ops-runners/runner.env\nExecStart=/opt/synapse-ops-runners/boot.sh\nRestart=no\n\n")
	b.WriteString("[Install]\nWantedBy=multi-user.target\nUNIT\n")
	b.WriteString("systemctl daemon-reload\n")
	b.WriteString("systemctl enable --now --no-block synapse-ops-runner.service\n")
	return b.String()
}
