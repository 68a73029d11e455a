package config

import (
	"fmt"
	"slices"
	"strings"
)

// Defaults used when a field is left empty.
const (
	DefaultRegion               = "us-east-1"
	DefaultAdminTokenSecretName = "/synapse/admin-pat"
	DefaultAmiSsmParameter      = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
	DefaultRunnerGroup          = "Default"
	DefaultControllerType       = "t4g.small"
	DefaultLogRetentionDays     = 90
	DefaultVolumeSizeGiB        = 40
	DefaultBootGraceMinutes     = 10
	DefaultNoJobTimeoutMinutes  = 30
	DefaultMaxRuntimeHours      = 8
	MinLongMaxRuntimeHours      = 31
	GitHubOidcHost              = "token.actions.githubusercontent.com"
	DefaultCdkQualifier         = "hnb659fds"
	DefaultCdkBootstrapStack    = "cdk-bootstrap-default"
	DefaultCdkMinVersion        = 6
	// DefaultAdoptAfterDays and DefaultProdAdoptAfterDays stage a new runner
	// release: dev adopts it a day after publication, prod five days after.
	DefaultAdoptAfterDays     = 1
	DefaultProdAdoptAfterDays = 5
	MaxAdoptAfterDays         = 20
	// MinRunnerVersion is the oldest runner GitHub lets register on github.com.
	MinRunnerVersion = "2.329.0"
)

// WithDefaults returns a copy of e with every empty optional field filled in.
// The receiver is not modified, so a caller's value never changes under it.
func (e Environment) WithDefaults() Environment {
	out := e
	if out.Region == "" {
		out.Region = DefaultRegion
	}
	// The provider ARN is derived only from a well-formed account: derived from a
	// bad one it would add a second error about a field the user never wrote.
	if out.GitHubOidc.ProviderArn == "" && !out.GitHubOidc.CreateProvider && accountPattern.MatchString(out.Account) {
		out.GitHubOidc.ProviderArn = fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", out.Account, GitHubOidcHost)
	}
	out.GitHubOidc.Subjects = slices.Clone(e.GitHubOidc.Subjects)
	if out.AdminToken.SecretName == "" {
		out.AdminToken.SecretName = DefaultAdminTokenSecretName
	}
	out.AdminToken.AdminPrincipalArns = slices.Clone(e.AdminToken.AdminPrincipalArns)
	out.GitHubCredential.AdminPrincipalArns = slices.Clone(e.GitHubCredential.AdminPrincipalArns)
	if out.GitHubCredential.SecretName == "" {
		out.GitHubCredential.SecretName = fmt.Sprintf("/synapse-ops-runners/%s/github", out.Name)
	}
	if out.GitHubCredential.Kind == "" {
		out.GitHubCredential.Kind = "app"
	}
	if out.Runner.AdoptAfterDays == 0 {
		out.Runner.AdoptAfterDays = DefaultAdoptAfterDays
		if out.Name == "prod" {
			out.Runner.AdoptAfterDays = DefaultProdAdoptAfterDays
		}
	}
	if out.Runner.AmiSsmParameter == "" && out.Runner.AmiID == "" {
		out.Runner.AmiSsmParameter = DefaultAmiSsmParameter
	}
	if out.Controller.InstanceType == "" {
		out.Controller.InstanceType = DefaultControllerType
	}
	if out.CdkBootstrap.Qualifier == "" {
		out.CdkBootstrap.Qualifier = DefaultCdkQualifier
	}
	if out.CdkBootstrap.StackName == "" {
		out.CdkBootstrap.StackName = DefaultCdkBootstrapStack
	}
	if out.CdkBootstrap.MinVersion == 0 {
		out.CdkBootstrap.MinVersion = DefaultCdkMinVersion
	}
	out.CdkBootstrap.TrustAccounts = slices.Clone(e.CdkBootstrap.TrustAccounts)
	if len(e.CdkBootstrap.ExecutionPolicyArns) == 0 {
		out.CdkBootstrap.ExecutionPolicyArns = []string{"arn:aws:iam::aws:policy/AdministratorAccess"}
	} else {
		out.CdkBootstrap.ExecutionPolicyArns = slices.Clone(e.CdkBootstrap.ExecutionPolicyArns)
	}
	if out.LogRetentionDays == 0 {
		out.LogRetentionDays = DefaultLogRetentionDays
	}
	out.Vpc.AvailabilityZones = slices.Clone(e.Vpc.AvailabilityZones)
	out.Vpc.PrivateSubnets = slices.Clone(e.Vpc.PrivateSubnets)
	out.Tags = make(map[string]string, len(e.Tags))
	for k, v := range e.Tags {
		out.Tags[k] = v
	}
	out.Admission = e.Admission.withDefaults()
	out.Pools = make([]Pool, len(e.Pools))
	for i, p := range e.Pools {
		out.Pools[i] = p.withDefaults(out.Name)
	}
	return out
}

func (p Pool) withDefaults(env string) Pool {
	out := p
	if out.Kind == "" {
		out.Kind = PoolKindStandard
	}
	if out.ScaleSetName == "" {
		out.ScaleSetName = "synapse-" + env
		if out.Name != "default" {
			out.ScaleSetName += "-" + out.Name
		}
	}
	if out.RunnerGroup == "" {
		out.RunnerGroup = DefaultRunnerGroup
	}
	out.InstanceTypes = slices.Clone(p.InstanceTypes)
	out.Admission = p.Admission.clone()
	if out.VolumeSizeGiB == 0 {
		out.VolumeSizeGiB = DefaultVolumeSizeGiB
	}
	if p.Packages == nil {
		out.Packages = slices.Clone(KnownPackages)
	} else {
		out.Packages = slices.Clone(p.Packages)
	}
	if out.BootGraceMinutes == 0 {
		out.BootGraceMinutes = DefaultBootGraceMinutes
	}
	if out.NoJobTimeoutMinutes == 0 {
		out.NoJobTimeoutMinutes = DefaultNoJobTimeoutMinutes
	}
	if out.MaxRuntimeHours == 0 {
		out.MaxRuntimeHours = DefaultMaxRuntimeHours
		if out.Kind == PoolKindLong {
			out.MaxRuntimeHours = MinLongMaxRuntimeHours
		}
	}
	return out
}

// StackName is the CloudFormation stack of the environment.
func (e Environment) StackName() string { return "synapse-ops-runners-" + e.Name }

// Stack output ids, and the repository variable each one feeds. The bootstrap
// compares the ops repository's variables with these outputs.
const (
	OutputContext          = "Context"
	OutputRoleToAssume     = "RoleToAssume"
	OutputSynapseHost      = "SynapseHost"
	OutputDeploymentRole   = "SynapseDeploymentRole"
	OutputDiffRole         = "DiffRoleArn"
	OutputAdminTokenSecret = "AdminTokenSecretName"
	OutputScaleSetPrefix   = "ScaleSet" // followed by the pool name, e.g. ScaleSetdefault
)

// RepositoryVariables maps each repository variable to the stack output holding its value.
var RepositoryVariables = map[string]string{
	"CONTEXT":                 OutputContext,
	"ROLE_TO_ASSUME":          OutputRoleToAssume,
	"SYNAPSE_HOST":            OutputSynapseHost,
	"SYNAPSE_DEPLOYMENT_ROLE": OutputDeploymentRole,
	// run-task.yml reads the admin token from this secret (default /synapse/admin-pat).
	"ADMIN_TOKEN_SECRET": OutputAdminTokenSecret,
}

// IsLong reports whether the pool runs 30-hour tasks.
func (p Pool) IsLong() bool { return p.Kind == PoolKindLong }

// ResourcePrefix is the prefix of every named resource of the environment,
// for example synapse-ops-runners-dev.
func (e Environment) ResourcePrefix() string { return "synapse-ops-runners-" + e.Name }

// AutoScalingGroupName is the fixed name of a pool's group. Fixed names let IAM
// policies be scoped by ARN before the groups exist.
func (e Environment) AutoScalingGroupName(p Pool) string {
	return e.ResourcePrefix() + "-" + p.Name
}

// JitParameterPrefix is the SSM path under which the controller writes each
// instance's single-use JIT runner config (one SecureString per instance id).
func (e Environment) JitParameterPrefix() string {
	return "/synapse-ops-runners/" + e.Name + "/jit/"
}

// RunnerReleaseParameter is the SSM parameter the controller publishes the
// runner release to use in ({version, url, sha256, publishedAt} as JSON) and
// instances read at boot. Only the controller may write it.
func (e Environment) RunnerReleaseParameter() string {
	return "/synapse-ops-runners/" + e.Name + "/runner-release"
}

// HasPlaceholders lists the config paths whose value is a placeholder.
func (e Environment) HasPlaceholders() []string {
	var out []string
	if strings.EqualFold(e.Vpc.ID, PlaceholderSubnetID) {
		out = append(out, "vpc.id")
	}
	for i, s := range e.Vpc.PrivateSubnets {
		if strings.EqualFold(s.ID, PlaceholderSubnetID) {
			out = append(out, fmt.Sprintf("vpc.privateSubnets[%d].id", i))
		}
	}
	return out
}
