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

	// Budget is the monthly AWS Budget over the fleet's cost-allocation tag.
	Budget Budget `json:"budget"`

	// AlarmEmail, when set, subscribes this address to the stack's alarm topic.
	//
	// Default: no subscription (the topic still exists for other subscribers).
	AlarmEmail string `json:"alarmEmail,omitempty"`
}

// Vpc describes an existing VPC and the private subnets runners launch in,
// either by ids or by the CloudFormation exports of the stack that built it.
//
// With exports the stack imports each value with Fn::ImportValue, resolved at
// deploy time, so synth stays offline and the VPC's ids never need pasting. The
// trade-off: CloudFormation refuses to change or delete an export while another
// stack imports it, so the VPC stack cannot replace those subnets while this
// stack uses them.
type Vpc struct {
	// ID is the VPC id, for example vpc-0f126dc4dd46853a6, or "TODO" while the
	// real id is not known (synth warns; deploy needs the real value). Leave it
	// empty when ExportPrefix names the VPC.
	ID string `json:"id,omitempty"`

	// ExportPrefix names the VPC by its stack's exports instead of ID: the
	// organisation's VPC template exports <region>-<stack>-VPCId and the subnets
	// and route table under the same prefix, for example
	// us-east-1-synapse-ops-vpc-v2 (imports us-east-1-synapse-ops-vpc-v2-VPCId).
	//
	// Default: none (use ID)
	ExportPrefix string `json:"exportPrefix,omitempty"`

	// RouteTableExport is the export (after ExportPrefix and a dash) of the
	// private subnets' route table, for example PrivateRouteTable. Only with
	// ExportPrefix.
	//
	// Default: none (CDK does not need it for launching instances)
	RouteTableExport string `json:"routeTableExport,omitempty"`

	// AvailabilityZones lists the zones of the private subnets, in subnet order.
	AvailabilityZones []string `json:"availabilityZones"`

	// PrivateSubnets are the subnets runners and the controller launch in. A
	// subnet id of "TODO" marks a value that is not known yet: synth still works,
	// adds a warning naming it, and the bootstrap lists the account's real subnets.
	PrivateSubnets []Subnet `json:"privateSubnets"`
}

// Subnet is one private subnet, named by id or (with Vpc.ExportPrefix) by export.
type Subnet struct {
	// ID is the subnet id (subnet-...), or "TODO" when not known yet. Empty
	// when Export names the subnet.
	ID string `json:"id,omitempty"`
	// Export is the subnet's export after Vpc.ExportPrefix and a dash, for
	// example PrivateSubnet1. Only with Vpc.ExportPrefix.
	//
	// Default: none (use ID)
	Export string `json:"export,omitempty"`
	// AvailabilityZone is the zone the subnet is in; it must be listed in Vpc.AvailabilityZones.
	AvailabilityZone string `json:"availabilityZone"`
	// RouteTableID is the subnet's route table, when known (ids only).
	//
	// Default: none (CDK does not need it for launching instances)
	RouteTableID string `json:"routeTableId,omitempty"`
}

// UsesExports reports whether the VPC is named by its stack's exports.
func (v Vpc) UsesExports() bool { return v.ExportPrefix != "" }

// VpcIDExport is the export holding the VPC id.
func (v Vpc) VpcIDExport() string { return v.ExportPrefix + "-VPCId" }

// SubnetExport is the full export name of a subnet named by export.
func (v Vpc) SubnetExport(s Subnet) string { return v.ExportPrefix + "-" + s.Export }

// RouteTableExportName is the full export name of the route table, or "" when none is configured.
func (v Vpc) RouteTableExportName() string {
	if v.RouteTableExport == "" {
		return ""
	}
	return v.ExportPrefix + "-" + v.RouteTableExport
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

// Runner chooses the GitHub Actions runner release and the machine image.
//
// GitHub refuses runners older than 2.329.0 and stops giving jobs to a runner
// that has not installed a release within 30 days of its publication, so no
// fixed version stays usable. The fleet controller reads the latest
// actions/runner release every day and publishes the one to use to an SSM
// parameter (see Environment.RunnerReleaseParameter); instances read it at
// boot and verify the tarball's SHA-256. The fields here are the floor used
// until the first publication and an optional pin for emergencies.
type Runner struct {
	// MinimumVersion is the floor: the release instances install while the
	// controller has not published one yet (a new stack) or the parameter cannot
	// be read, and the oldest release the boot script accepts from the parameter.
	// At least 2.329.0 (GitHub refuses older runners).
	MinimumVersion string `json:"minimumVersion"`

	// MinimumSHA256 is the SHA-256 of actions-runner-linux-arm64-<MinimumVersion>.tar.gz,
	// as published on the release page (the asset's digest).
	MinimumSHA256 string `json:"minimumSha256"`

	// AdoptAfterDays is how long after its publication a release is adopted, so
	// dev runs a release before prod. At most 20, which leaves 10 of GitHub's 30
	// days for a daily check, a deploy and a retry.
	//
	// Default: 5 for prod, 1 for every other environment
	AdoptAfterDays int `json:"adoptAfterDays,omitempty"`

	// Version pins one release for emergencies (a broken release): instances
	// install it and ignore the published parameter. Set together with SHA256.
	// Synth warns while a pin is set; the controller alarms when the version in
	// use is more than 25 days behind the latest release.
	//
	// Default: none (follow the controller's publication)
	Version string `json:"version,omitempty"`

	// SHA256 is the checksum of actions-runner-linux-arm64-<Version>.tar.gz of a pin.
	//
	// Default: none
	SHA256 string `json:"sha256,omitempty"`

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

// Pinned reports whether a release is pinned (runner.version is set).
func (r Runner) Pinned() bool { return r.Version != "" }

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

// Budget is a monthly AWS Budget over the environment's resources: every
// resource carries the synapse-ops-runners:env tag, which must be activated as
// a cost-allocation tag in the billing console (the bootstrap says so).
type Budget struct {
	// MonthlyUsd is the monthly limit in US dollars. Actual spend past 80% and
	// 100%, and a forecast past 100%, notify the alarm topic (and AlarmEmail).
	MonthlyUsd int `json:"monthlyUsd"`
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
