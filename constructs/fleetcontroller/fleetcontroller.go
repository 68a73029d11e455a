// Package fleetcontroller deploys the fleet controller: one small on-demand
// instance (an Auto Scaling group of one, so it comes back if it dies) in the
// private subnets, running the controller binary under systemd, fed by an SQS
// queue of the pools' lifecycle-hook and spot-interruption events.
package fleetcontroller

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/fleetiam"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/hardened"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/runnerpool"
	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/secretpolicy"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// Props configures FleetController.
type Props struct {
	// Environment is the validated environment with defaults applied.
	Environment config.Environment
	// Pools are the runner pools the controller manages, in config order.
	Pools []*runnerpool.RunnerPool
	// Vpc, Subnets and SecurityGroup place the controller instance.
	Vpc           awsec2.IVpc
	Subnets       *awsec2.SubnetSelection
	SecurityGroup awsec2.ISecurityGroup
	// LogKey encrypts the controller's log group and event queue.
	LogKey awskms.IKey
	// AlarmTopic receives the max-runtime watchdog's warnings.
	AlarmTopic awssns.ITopic
	// BinaryDir is a directory holding the built controller binary.
	//
	// Default: built with BuildBinary from the module root at synth time
	BinaryDir string
}

// FleetController is the deployed controller.
type FleetController struct {
	constructs.Construct
	// Role is the controller's instance role.
	Role awsiam.Role
	// Queue receives the fleet's lifecycle and spot events.
	Queue awssqs.Queue
	// DeadLetterQueue keeps events the controller could not process.
	DeadLetterQueue awssqs.Queue
	// AutoScalingGroup runs the single controller instance.
	AutoScalingGroup awsautoscaling.AutoScalingGroup
	// LogGroup holds the controller's JSON logs and embedded metrics.
	LogGroup awslogs.LogGroup
	// CredentialSecret is the GitHub credential, readable only by Role.
	CredentialSecret awssecretsmanager.ISecret
	// CredentialPolicy denies every other reader of the credential.
	CredentialPolicy awssecretsmanager.CfnResourcePolicy
	// Settings is what the controller reads at start (tokens resolved at deploy).
	Settings settings.Settings
}

// MetricsNamespace is the CloudWatch namespace of the controller's embedded
// metrics; the monitoring construct's alarms read the same one.
const MetricsNamespace = settings.MetricsNamespaceDefault

// New creates the controller.
func New(scope constructs.Construct, id string, props Props) *FleetController {
	this := constructs.NewConstruct(scope, jsii.String(id))
	env := props.Environment
	c := &FleetController{Construct: this}

	binaryDir := props.BinaryDir
	if binaryDir == "" {
		root, err := ModuleRoot(".")
		if err == nil {
			binaryDir, err = BuildBinary(root)
		}
		if err != nil {
			panic(err)
		}
	}
	// A single-file asset is uploaded as is (not zipped).
	binary := awss3assets.NewAsset(this, jsii.String("Binary"), &awss3assets.AssetProps{Path: jsii.String(filepath.Join(binaryDir, BinaryName))})

	c.DeadLetterQueue = awssqs.NewQueue(this, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.LogKey,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	c.Queue = awssqs.NewQueue(this, jsii.String("Events"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.LogKey,
		EnforceSSL:          jsii.Bool(true),
		VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(60)),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(1)),
		DeadLetterQueue:     &awssqs.DeadLetterQueue{Queue: c.DeadLetterQueue, MaxReceiveCount: jsii.Number(5)},
	})
	props.LogKey.GrantEncryptDecrypt(awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil))

	var groupNames []*string
	for _, p := range props.Pools {
		groupNames = append(groupNames, p.AutoScalingGroup.AutoScalingGroupName())
	}
	lifecycle := awsevents.NewRule(this, jsii.String("LifecycleActions"), &awsevents.RuleProps{
		Description: jsii.String("Lifecycle-hook actions of the " + env.Name + " runner pools"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.autoscaling"),
			DetailType: jsii.Strings("EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"),
			Detail:     &map[string]any{"AutoScalingGroupName": groupNames},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(c.Queue, nil)},
	})
	spot := awsevents.NewRule(this, jsii.String("SpotInterruptions"), &awsevents.RuleProps{
		Description: jsii.String("Spot interruption warnings (the controller keeps only its own instances)"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ec2"),
			DetailType: jsii.Strings("EC2 Spot Instance Interruption Warning"),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(c.Queue, nil)},
	})

	// A forged spot warning or lifecycle action would make the controller drain
	// or release instances. CDK leaves the source condition off for a KMS
	// encrypted queue, so this denies every sender but the two rules above.
	c.Queue.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyThisStacksEventRules"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("sqs:SendMessage"),
		Resources:  &[]*string{c.Queue.QueueArn()},
		Conditions: &map[string]any{
			"ArnNotEquals": map[string]any{"aws:SourceArn": []*string{lifecycle.RuleArn(), spot.RuleArn()}},
		},
	}))

	c.LogGroup = awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/synapse-ops-runners/" + env.Name + "/controller"),
		EncryptionKey: props.LogKey,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	c.LogGroup.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(float64(env.LogRetentionDays)))

	c.CredentialSecret = awssecretsmanager.Secret_FromSecretNameV2(this, jsii.String("GitHubCredential"), jsii.String(env.GitHubCredential.SecretName))

	c.Settings = settings.Settings{
		Environment:         env.Name,
		Region:              env.Region,
		Repository:          env.Repository,
		GitHubURL:           "https://github.com/" + env.Repository,
		CredentialSecretArn: *c.CredentialSecret.SecretArn(),
		CredentialKind:      env.GitHubCredential.Kind,
		JitParameterPrefix:  env.JitParameterPrefix(),
		EventQueueURL:       *c.Queue.QueueUrl(),
		AlarmTopicArn:       *props.AlarmTopic.TopicArn(),
		Account:             env.Account,
		MetricsNamespace:    MetricsNamespace,
		RunnerRelease: settings.RunnerRelease{
			Parameter:      env.RunnerReleaseParameter(),
			AdoptAfterDays: env.Runner.AdoptAfterDays,
			FloorVersion:   env.Runner.MinimumVersion,
			PinnedVersion:  env.Runner.Version,
		},
	}
	for i, p := range props.Pools {
		pc := env.Pools[i]
		labels := []string{pc.ScaleSetName}
		c.Settings.Pools = append(c.Settings.Pools, settings.Pool{
			Name:                   pc.Name,
			ScaleSetName:           pc.ScaleSetName,
			RunnerGroup:            pc.RunnerGroup,
			Labels:                 labels,
			AutoScalingGroupName:   env.AutoScalingGroupName(pc),
			LaunchHookName:         p.LaunchHookName,
			TerminateHookName:      p.TerminateHookName,
			Min:                    pc.Min,
			Max:                    pc.Max,
			MinIdle:                pc.MinIdle,
			Spot:                   pc.Spot,
			Kind:                   pc.Kind,
			SpotFallbackToOnDemand: pc.Spot,
			BootGraceMinutes:       pc.BootGraceMinutes,
			NoJobTimeoutMinutes:    pc.NoJobTimeoutMinutes,
			MaxRuntimeHours:        pc.MaxRuntimeHours,
		})
	}

	// The binary refuses settings that fail this check at start; failing synth
	// instead keeps a bad settings file from ever reaching an instance.
	if err := c.Settings.Validate(); err != nil {
		panic(fmt.Errorf("fleetcontroller: %w", err))
	}

	c.Role = awsiam.NewRole(this, jsii.String("Role"), &awsiam.RoleProps{
		RoleName:    jsii.String(env.ResourcePrefix() + "-controller"),
		Description: jsii.String("Fleet controller of synapse-ops-runners " + env.Name),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedInstanceCore")),
		},
	})
	c.grantControllerPermissions(env, props)
	c.CredentialSecret.GrantRead(c.Role, nil)
	// Runners must never read the GitHub credential, even through a role they
	// may assume: everyone but the controller and break-glass admins is denied.
	readers := []*string{c.Role.RoleArn()}
	for _, arn := range env.GitHubCredential.AdminPrincipalArns {
		readers = append(readers, jsii.String(arn))
	}
	c.CredentialPolicy = secretpolicy.OnlyReaders(this, "OnlyControllerReadsCredential", secretpolicy.Props{
		SecretID: jsii.String(env.GitHubCredential.SecretName),
		Readers:  readers,
		Sid:      "OnlyTheControllerReadsTheGitHubCredential",
	})
	binary.GrantRead(c.Role)

	c.AutoScalingGroup = c.instance(env, props, binary)
	return c
}

func (c *FleetController) grantControllerPermissions(env config.Environment, props Props) {
	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		fleetiam.Allow(c.Role, sid, actions, resources, conditions)
	}
	var groupNames []string
	for _, p := range env.Pools {
		groupNames = append(groupNames, env.AutoScalingGroupName(p))
	}
	groupArns := fleetiam.GroupArns(c.Construct, groupNames)
	add("ManageOwnPools", []string{
		"autoscaling:SetDesiredCapacity",
		"autoscaling:CompleteLifecycleAction",
		"autoscaling:RecordLifecycleActionHeartbeat",
		"autoscaling:TerminateInstanceInAutoScalingGroup",
		"autoscaling:SetInstanceProtection",
		"autoscaling:UpdateAutoScalingGroup",
		"autoscaling:SuspendProcesses",
		"autoscaling:CreateOrUpdateTags",
		"autoscaling:DeleteTags",
	}, groupArns, map[string]any{
		"StringEquals": map[string]any{"autoscaling:ResourceTag/" + settings.TagEnvironment: env.Name},
	})
	// Describe calls cannot be scoped to a resource in IAM.
	add("DescribeFleet", []string{
		"autoscaling:DescribeAutoScalingGroups",
		"autoscaling:DescribeAutoScalingInstances",
		"autoscaling:DescribeWarmPool",
		"autoscaling:DescribeScalingActivities",
		"ec2:DescribeInstances",
		"ec2:DescribeInstanceStatus",
		"ssm:DescribeParameters",
	}, []*string{jsii.String("*")}, nil)
	// The controller's records on runner instances (job started and completed,
	// max runtime warned), kept as tags so a restart loses nothing: only those
	// keys, only on this fleet's instances.
	add("MarkRunnerInstances", []string{"ec2:CreateTags"}, []*string{fleetiam.Instances(c.Construct)}, map[string]any{
		"StringEquals":              map[string]any{"aws:ResourceTag/" + settings.TagEnvironment: env.Name},
		"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{settings.TagJobStartedAt, settings.TagJobCompleted, settings.TagMaxRuntimeWarned}},
	})
	// Spot fallback changes only the instances distribution of the mixed
	// instances policy, so no iam:PassRole or ec2:RunInstances is needed.
	jitArn := fleetiam.JitParameters(c.Construct, env.JitParameterPrefix())
	add("WriteJitConfigs", []string{
		"ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:AddTagsToResource",
	}, []*string{jitArn}, nil)
	// The one parameter instances read the runner release from; runners can
	// read it but only the controller writes it.
	add("PublishRunnerRelease", []string{"ssm:PutParameter", "ssm:GetParameter"},
		[]*string{fleetiam.Parameter(c.Construct, env.RunnerReleaseParameter())}, nil)
	add("ReadFleetEvents", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"},
		[]*string{c.Queue.QueueArn()}, nil)
	// Decrypt reads the event queue; GenerateDataKey publishes to the encrypted alarm topic.
	props.LogKey.Grant(c.Role, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey"))
	add("AlarmOnWatchdog", []string{"sns:Publish"}, []*string{props.AlarmTopic.TopicArn()}, nil)
	add("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
		[]*string{c.LogGroup.LogGroupArn(), jsii.String(*c.LogGroup.LogGroupArn() + ":log-stream:*")}, nil)
}

func (c *FleetController) instance(env config.Environment, props Props, binary awss3assets.Asset) awsautoscaling.AutoScalingGroup {
	settingsJSON, err := json.MarshalIndent(c.Settings, "", "  ")
	if err != nil {
		panic(fmt.Errorf("fleetcontroller: settings: %w", err))
	}
	userData := awsec2.UserData_ForLinux(nil)
	userData.AddCommands(*jsii.Strings(
		"set -euo pipefail",
		"dnf install -y amazon-cloudwatch-agent",
		"install -d -m 0755 /etc/synapse-ops-runners /opt/synapse-ops-runners /var/log/synapse-ops-runners",
		"cat > "+settings.DefaultPath+" <<'JSON'\n"+string(settingsJSON)+"\nJSON",
		fmt.Sprintf("aws s3 cp --region %s s3://%s/%s /opt/synapse-ops-runners/%s", env.Region, *binary.S3BucketName(), *binary.S3ObjectKey(), BinaryName),
		"chmod 0755 /opt/synapse-ops-runners/"+BinaryName,
		"cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<JSON\n"+
			`{"logs":{"logs_collected":{"files":{"collect_list":[{"file_path":"/var/log/synapse-ops-runners/controller.log","log_group_name":"`+*c.LogGroup.LogGroupName()+`","log_stream_name":"{instance_id}"}]}}}}`+"\nJSON",
		"/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json -s",
		"cat > /etc/systemd/system/fleet-controller.service <<'UNIT'\n"+
			"[Unit]\nDescription=synapse-ops-runners fleet controller\nAfter=network-online.target\nWants=network-online.target\n\n"+
			"[Service]\nExecStart=/opt/synapse-ops-runners/"+BinaryName+" -settings "+settings.DefaultPath+"\n"+
			"Restart=always\nRestartSec=5\nStandardOutput=append:/var/log/synapse-ops-runners/controller.log\nStandardError=append:/var/log/synapse-ops-runners/controller.log\n"+
			"DynamicUser=yes\nNoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n\n"+
			"[Install]\nWantedBy=multi-user.target\nUNIT",
		"systemctl daemon-reload",
		"systemctl enable --now fleet-controller.service",
	)...)

	lt := hardened.NewLaunchTemplate(c.Construct, "LaunchTemplate", hardened.Props{
		InstanceType: env.Controller.InstanceType,
		MachineImage: awsec2.MachineImage_FromSsmParameter(jsii.String(config.DefaultAmiSsmParameter), &awsec2.SsmParameterImageOptions{
			Os: awsec2.OperatingSystemType_LINUX, UserData: userData,
		}),
		UserData:      userData,
		Role:          c.Role,
		SecurityGroup: props.SecurityGroup,
		VolumeSizeGiB: 16,
	})
	return awsautoscaling.NewAutoScalingGroup(c.Construct, jsii.String("Group"), &awsautoscaling.AutoScalingGroupProps{
		AutoScalingGroupName: jsii.String(env.ResourcePrefix() + "-controller"),
		Vpc:                  props.Vpc,
		VpcSubnets:           props.Subnets,
		LaunchTemplate:       lt,
		MinCapacity:          jsii.Number(1),
		MaxCapacity:          jsii.Number(1),
		GroupMetrics:         &[]awsautoscaling.GroupMetrics{awsautoscaling.GroupMetrics_All()},
		// A new settings file, binary or AMI replaces the instance inside the same
		// group: the group keeps its fixed name (a replaced custom-named group
		// would fail the deploy) and at most one controller runs at a time.
		UpdatePolicy: awsautoscaling.UpdatePolicy_RollingUpdate(&awsautoscaling.RollingUpdateOptions{
			MinInstancesInService: jsii.Number(0),
			MaxBatchSize:          jsii.Number(1),
		}),
	})
}
