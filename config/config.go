// Package config holds the typed configuration of one deployment environment
// (dev, prod, ...) of synapse-ops-runners.
//
// Each environment lives in its own committed JSON file, environments/<name>.json.
// The CDK app, the fleet controller construct and the bootstrap command all read
// these same structs, so a value is typed once. Nothing here calls AWS or reads a
// secret: loading and validating a config works offline.
package config

// Environment is everything the app needs to deploy the runner fleet of one account.
type Environment struct {
	// Name is the environment name used on the command line (`--context env=<name>`)
	// and in resource names. It must equal the file name without `.json`.
	Name string `json:"name"`

	// Account is the 12-digit AWS account id the stack is pinned to.
	Account string `json:"account"`

	// Region is the AWS region the stack is pinned to.
	//
	// Default: us-east-1
	Region string `json:"region,omitempty"`

	// Vpc is the existing VPC the runners run in. It is imported by attributes,
	// never looked up at synth.
	Vpc Vpc `json:"vpc"`

	// Repository is the ops repository ("owner/name") whose workflows use these
	// runners and assume the deploy role (the ROLE_TO_ASSUME repository variable).
	// The scale sets are registered on it.
	Repository string `json:"repository"`

	// SynapseHost is the Synapse endpoint ops jobs call (the SYNAPSE_HOST variable).
	SynapseHost string `json:"synapseHost"`

	// DeploymentRoleArn is the role runners may assume to deploy Synapse
	// (the SYNAPSE_DEPLOYMENT_ROLE variable). It must be in this environment's account.
	DeploymentRoleArn string `json:"deploymentRoleArn"`

	// GitHubOidc configures the GitHub OIDC provider and the role the ops
	// repository assumes.
	GitHubOidc GitHubOidc `json:"githubOidc"`

	// AdminToken is the Synapse admin token secret that ops jobs read.
	AdminToken AdminToken `json:"adminToken"`

	// GitHubCredential is the secret the fleet controller uses to talk to GitHub.
	GitHubCredential GitHubCredential `json:"githubCredential"`

	// Runner pins the GitHub Actions runner release and the machine image.
	Runner Runner `json:"runner"`

	// Pools are the runner fleets, one Auto Scaling group and one scale set each.
	Pools []Pool `json:"pools"`

	// Admission says which jobs may run on the runners (see admission.go).
	//
	// Default: none (required)
	Admission Admission `json:"admission"`

	// Controller sizes the fleet controller instance.
	Controller Controller `json:"controller,omitempty"`

	// Tags are applied to every taggable resource of the stack. CostCenter and
	// OwnerEmail are required.
	Tags map[string]string `json:"tags"`

	// LogRetentionDays is how long runner and controller logs are kept.
	//
	// Default: 90
	LogRetentionDays int `json:"logRetentionDays,omitempty"`

	// CdkBootstrap describes the CDK bootstrap the bootstrap command checks (and,
	// in a brand-new account, deploys).
	CdkBootstrap CdkBootstrap `json:"cdkBootstrap,omitempty"`

	// AlarmEmail, when set, subscribes this address to the stack's alarm topic.
	//
	// Default: no subscription (the topic still exists for other subscribers).
	AlarmEmail string `json:"alarmEmail,omitempty"`
}

// Vpc describes an existing VPC and the private subnets runners launch in.
type Vpc struct {
	// ID is the VPC id, for example vpc-0f126dc4dd46853a6, or "TODO" while the
	// real id is not known (synth warns; deploy needs the real value).
	ID string `json:"id"`

	// AvailabilityZones lists the zones of the private subnets, in subnet order.
	AvailabilityZones []string `json:"availabilityZones"`

	// PrivateSubnets are the subnets runners and the controller launch in. A
	// subnet id of "TODO" marks a value that is not known yet: synth still works,
	// adds a warning naming it, and the bootstrap lists the account's real subnets.
	PrivateSubnets []Subnet `json:"privateSubnets"`
}

// Subnet is one private subnet.
type Subnet struct {
	// ID is the subnet id (subnet-...), or "TODO" when not known yet.
	ID string `json:"id"`
	// AvailabilityZone is the zone the subnet is in; it must be listed in Vpc.AvailabilityZones.
	AvailabilityZone string `json:"availabilityZone"`
	// RouteTableID is the subnet's route table, when known.
	//
	// Default: none (CDK does not need it for launching instances).
	RouteTableID string `json:"routeTableId,omitempty"`
}

// PlaceholderSubnetID marks a VPC or subnet id that is not known yet.
const PlaceholderSubnetID = "TODO"

// GitHubOidc configures GitHub's OIDC trust.
type GitHubOidc struct {
	// ProviderArn is the existing provider for token.actions.githubusercontent.com.
	//
	// Default: arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com
	ProviderArn string `json:"providerArn,omitempty"`

	// CreateProvider makes the stack create the provider. Only for a brand-new
	// account: every Sage account already has one from the organisation baseline.
	//
	// Default: false
	CreateProvider bool `json:"createProvider,omitempty"`

	// Subjects are the `sub` claims (after "repo:<Repository>:") allowed to assume
	// the deploy role, for example "environment:prod" or "ref:refs/heads/main".
	// Wildcards are refused.
	Subjects []string `json:"subjects"`

	// ReviewRepository is the repository ("owner/name") whose pull requests may
	// assume the read-only diff role, which can only run `cdk diff`.
	//
	// Default: no diff role.
	ReviewRepository string `json:"reviewRepository,omitempty"`
}

// AdminToken describes the Synapse admin token secret.
type AdminToken struct {
	// SecretName is the Secrets Manager name of the token.
	//
	// Default: /synapse/admin-pat
	SecretName string `json:"secretName,omitempty"`

	// Create makes the stack create the secret (with a customer-managed KMS key and
	// a resource policy). Its value is then set by the bootstrap, never by the template.
	//
	// Default: false (the secret is imported by name)
	Create bool `json:"create,omitempty"`

	// AdminPrincipalArns are break-glass IAM principals allowed to read the token
	// besides the runner role. The stack's resource policy denies everyone else,
	// whether the secret is created or imported.
	//
	// Default: none
	AdminPrincipalArns []string `json:"adminPrincipalArns,omitempty"`
}

// GitHubCredential describes the secret the controller authenticates to GitHub with.
type GitHubCredential struct {
	// SecretName is the Secrets Manager name. The secret is JSON: either
	// {"app_id":..,"installation_id":..,"private_key":".."} or {"token":".."}.
	//
	// Default: /synapse-ops-runners/<env>/github
	SecretName string `json:"secretName,omitempty"`

	// Kind is "app" (GitHub App, preferred) or "pat" (fine-grained token).
	//
	// Default: app
	Kind string `json:"kind,omitempty"`

	// AdminPrincipalArns are break-glass IAM principals allowed to read the
	// credential besides the controller role (the bootstrap checks its shape as
	// one of them). The stack's resource policy denies everyone else.
	//
	// Default: none
	AdminPrincipalArns []string `json:"adminPrincipalArns,omitempty"`
}

// Runner pins the runner software and image.
type Runner struct {
	// Version is the actions/runner release, for example 2.326.0.
	Version string `json:"version"`

	// SHA256 is the checksum of actions-runner-linux-arm64-<Version>.tar.gz, as
	// published in the release notes. The boot script refuses a mismatch.
	SHA256 string `json:"sha256"`

	// AmiSsmParameter is the SSM parameter resolved at deploy time to the AMI id.
	//
	// Default: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64
	AmiSsmParameter string `json:"amiSsmParameter,omitempty"`

	// AmiID pins a specific (for example hardened) arm64 image instead of the
	// SSM parameter. Set at most one of AmiID and AmiSsmParameter.
	//
	// Default: none
	AmiID string `json:"amiId,omitempty"`
}

// Pool kinds.
const (
	PoolKindStandard = "standard"
	PoolKindLong     = "long"
)

// Pool is one fleet of ephemeral runners.
type Pool struct {
	// Name is the pool's short name, used in resource names (default, long).
	Name string `json:"name"`

	// Kind is "standard" (spot allowed) or "long" (30-hour tasks: on-demand only,
	// no instance lifetime, no rebalancing).
	//
	// Default: standard
	Kind string `json:"kind,omitempty"`

	// ScaleSetName is the runner scale set name workflows target with `runs-on:`.
	//
	// Default: synapse-<env> for the pool named default, synapse-<env>-<name> otherwise
	ScaleSetName string `json:"scaleSetName,omitempty"`

	// RunnerGroup is the GitHub runner group of the scale set. The controller never
	// falls back to another group.
	//
	// Default: Default
	RunnerGroup string `json:"runnerGroup,omitempty"`

	// InstanceTypes are the arm64 (Graviton) instance types, in order of preference.
	InstanceTypes []string `json:"instanceTypes"`

	// Spot lets the pool use spot capacity (capacity-optimized) with on-demand
	// fallback. Refused for long pools.
	//
	// Default: false
	Spot bool `json:"spot,omitempty"`

	// OnDemandBaseCapacity is how many instances are always on-demand in a spot pool.
	//
	// Default: 0
	OnDemandBaseCapacity int `json:"onDemandBaseCapacity,omitempty"`

	// Min and Max bound the group's size. MinIdle runners are kept waiting for jobs.
	Min     int `json:"min"`
	Max     int `json:"max"`
	MinIdle int `json:"minIdle,omitempty"`

	// WarmPoolSize keeps this many stopped, pre-installed instances for faster
	// starts. Auto Scaling allows warm pools only for on-demand groups of one
	// instance type, so it requires spot false and a single instance type.
	//
	// Default: 0 (no warm pool)
	WarmPoolSize int `json:"warmPoolSize,omitempty"`

	// VolumeSizeGiB is the encrypted gp3 root volume size.
	//
	// Default: 40
	VolumeSizeGiB int `json:"volumeSizeGiB,omitempty"`

	// Packages are installed at boot.
	//
	// Default: git, jq, awscli, java11-maven, docker
	Packages []string `json:"packages,omitempty"`

	// BootGraceMinutes is how long a new instance may take to register its runner.
	//
	// Default: 10
	BootGraceMinutes int `json:"bootGraceMinutes,omitempty"`

	// NoJobTimeoutMinutes is how long an idle runner waits for a job before it leaves.
	//
	// Default: 30
	NoJobTimeoutMinutes int `json:"noJobTimeoutMinutes,omitempty"`

	// MaxRuntimeHours is the watchdog limit on one job; at least 31 for long pools.
	//
	// Default: 8 for standard pools, 31 for long pools
	MaxRuntimeHours int `json:"maxRuntimeHours,omitempty"`

	// MaxInstanceLifetimeHours makes the group replace older instances. Refused for
	// long pools (it would stop a 30-hour task).
	//
	// Default: 0 (none)
	MaxInstanceLifetimeHours int `json:"maxInstanceLifetimeHours,omitempty"`

	// Admission overrides the environment's admission lists for this pool.
	//
	// Default: none (the environment's admission applies)
	Admission *PoolAdmission `json:"admission,omitempty"`
}

// CdkBootstrap is the account's CDK bootstrap.
type CdkBootstrap struct {
	// Qualifier is the bootstrap qualifier.
	//
	// Default: hnb659fds
	Qualifier string `json:"qualifier,omitempty"`
	// StackName is the bootstrap stack's name.
	//
	// Default: cdk-bootstrap-default
	StackName string `json:"stackName,omitempty"`
	// MinVersion is the lowest bootstrap version this app deploys with.
	//
	// Default: 6
	MinVersion int `json:"minVersion,omitempty"`
	// TrustAccounts may deploy into this account through the bootstrap roles.
	//
	// Default: none (only this account)
	TrustAccounts []string `json:"trustAccounts,omitempty"`
	// ExecutionPolicyArns are given to CloudFormation when bootstrapping.
	//
	// Default: arn:aws:iam::aws:policy/AdministratorAccess, the CDK default
	ExecutionPolicyArns []string `json:"executionPolicyArns,omitempty"`
}

// Controller sizes the fleet controller.
type Controller struct {
	// InstanceType is the controller's on-demand arm64 instance type.
	//
	// Default: t4g.small
	InstanceType string `json:"instanceType,omitempty"`
}

// Packages the boot script knows how to install.
var KnownPackages = []string{"git", "jq", "awscli", "java11-maven", "docker"}
