package config_test

import (
	"strings"
	"testing"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

const retentionChoices = "[1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653]"

// TestValidate_GivenOneBadField_ThenExactMessage mutates one thing of a valid
// environment (before defaults, as a user edits the file) and asserts the whole
// message: the environment, the field path, what is wrong and how to fix it.
func TestValidate_GivenOneBadField_ThenExactMessage(t *testing.T) {
	cases := []struct {
		name   string
		prod   bool // start from the prod base instead of dev
		mutate func(e *config.Environment)
		want   string
	}{
		{
			name:   "GivenEnvNameWithCapital_WhenValidated_ThenNameRefused",
			mutate: func(e *config.Environment) { e.Name = "Dev" },
			want:   `Dev: name: "Dev" is not a valid environment name; use 2-16 lowercase letters, digits or dashes, starting with a letter (for example dev)`,
		},
		{
			// The deployment role still names the real account, so that is a
			// second, true problem; the derived OIDC provider ARN must not add a
			// third about a field the user never wrote.
			name:   "GivenElevenDigitAccount_WhenValidated_ThenAccountAndRoleAccountReported",
			mutate: func(e *config.Environment) { e.Account = "44943594112" },
			want: `dev: account: "44943594112" is not a 12-digit AWS account id; set the account number, for example 449435941126` + "\n" +
				`dev: deploymentRoleArn: role is in account 449435941126, not this environment's account 44943594112; use this account's deployment role`,
		},
		{
			name: "GivenAccountWithLetters_WhenValidated_ThenAccountRefused",
			mutate: func(e *config.Environment) {
				e.Account = "44943594112a"
				e.DeploymentRoleArn = "arn:aws:iam::449435941126:role/x"
				e.GitHubOidc.ProviderArn = "arn:aws:iam::449435941126:oidc-provider/token.actions.githubusercontent.com"
			},
			want: `dev: account: "44943594112a" is not a 12-digit AWS account id; set the account number, for example 449435941126` + "\n" +
				`dev: deploymentRoleArn: role is in account 449435941126, not this environment's account 44943594112a; use this account's deployment role` + "\n" +
				`dev: githubOidc.providerArn: provider is in account 449435941126, not 44943594112a; use this account's provider`,
		},
		{
			name:   "GivenNoVpcID_WhenValidated_ThenVpcMissing",
			mutate: func(e *config.Environment) { e.Vpc.ID = "" },
			want:   `dev: vpc.id: missing; set the id of the existing VPC the runners run in (vpc-...), or name it by its stack's exports with vpc.exportPrefix`,
		},
		{
			name:   "GivenShortVpcID_WhenValidated_ThenVpcIDFormatRefused",
			mutate: func(e *config.Environment) { e.Vpc.ID = "vpc-12345" },
			want:   `dev: vpc.id: "vpc-12345" is not a VPC id; use the form vpc-0123456789abcdef0, or "TODO" while unknown`,
		},
		{
			name:   "GivenSubnetInUnlistedZone_WhenValidated_ThenSubnetZoneRefused",
			mutate: func(e *config.Environment) { e.Vpc.PrivateSubnets[1].AvailabilityZone = "us-east-1e" },
			want:   `dev: vpc.privateSubnets[1].availabilityZone: "us-east-1e" is not in vpc.availabilityZones [us-east-1c us-east-1d]; add the zone there or fix the subnet's zone`,
		},
		{
			name: "GivenZoneOfAnotherRegion_WhenValidated_ThenZoneRefused",
			mutate: func(e *config.Environment) {
				e.Vpc.AvailabilityZones[1] = "us-west-2d"
				e.Vpc.PrivateSubnets[1].AvailabilityZone = "us-west-2d"
			},
			want: `dev: vpc.availabilityZones[1]: "us-west-2d" is not a zone of region us-east-1; use us-east-1 followed by a letter`,
		},
		{
			name: "GivenZoneEndingInDigit_WhenValidated_ThenZoneRefused",
			mutate: func(e *config.Environment) {
				e.Vpc.AvailabilityZones[0] = "us-east-11"
				e.Vpc.PrivateSubnets[0].AvailabilityZone = "us-east-11"
			},
			want: `dev: vpc.availabilityZones[0]: "us-east-11" is not a zone of region us-east-1; use us-east-1 followed by a letter`,
		},
		{
			name:   "GivenSameSubnetTwice_WhenValidated_ThenDuplicateReported",
			mutate: func(e *config.Environment) { e.Vpc.PrivateSubnets[1].ID = subnetC },
			want:   `dev: vpc.privateSubnets[1].id: "subnet-0123456789abcdef0" is listed twice; list each subnet once`,
		},
		{
			name:   "GivenNoSubnets_WhenValidated_ThenSubnetsMissing",
			mutate: func(e *config.Environment) { e.Vpc.PrivateSubnets = nil },
			want:   `dev: vpc.privateSubnets: missing; list at least one private subnet (id or export, and availabilityZone), or "TODO" ids until they are known`,
		},
		{
			name:   "GivenMalformedSubnetID_WhenValidated_ThenSubnetIDRefused",
			mutate: func(e *config.Environment) { e.Vpc.PrivateSubnets[0].ID = "sn-0123" },
			want:   `dev: vpc.privateSubnets[0].id: "sn-0123" is not a subnet id; use the form subnet-0123456789abcdef0, or "TODO" while unknown`,
		},
		{
			name:   "GivenMinAboveMax_WhenValidated_ThenMinRefused",
			mutate: func(e *config.Environment) { e.Pools[0].Min = 11 },
			want:   `dev: pools[0].min: min 11 is greater than max 10; lower min or raise max`,
		},
		{
			name:   "GivenNegativeMin_WhenValidated_ThenMinNamed",
			mutate: func(e *config.Environment) { e.Pools[0].Min = -1 },
			want:   `dev: pools[0].min: -1 is negative; use 0 or more`,
		},
		{
			name:   "GivenZeroMax_WhenValidated_ThenMaxNamed",
			mutate: func(e *config.Environment) { e.Pools[0].Max = 0 },
			want:   `dev: pools[0].max: min 0 and max 0 must satisfy 0 <= min and 1 <= max`,
		},
		{
			name:   "GivenMinIdleAboveMax_WhenValidated_ThenMinIdleRefused",
			mutate: func(e *config.Environment) { e.Pools[0].MinIdle = 11 },
			want:   `dev: pools[0].minIdle: 11 is outside 0..max (10); keep minIdle at most max`,
		},
		{
			name:   "GivenWarmPoolAboveMax_WhenValidated_ThenWarmPoolRefused",
			mutate: func(e *config.Environment) { e.Pools[1].WarmPoolSize = 4 },
			want:   `dev: pools[1].warmPoolSize: 4 is outside 0..max (3); keep the warm pool at most max`,
		},
		{
			name: "GivenWarmPoolOnASpotPool_WhenValidated_ThenSpotRefused",
			mutate: func(e *config.Environment) {
				e.Pools[0].WarmPoolSize = 2
				e.Pools[0].InstanceTypes = e.Pools[0].InstanceTypes[:1]
			},
			want: `dev: pools[0].warmPoolSize: a warm pool cannot hold spot instances (an Auto Scaling limit); set spot to false or warmPoolSize to 0`,
		},
		{
			name: "GivenWarmPoolWithSeveralTypes_WhenValidated_ThenOneTypeRequired",
			mutate: func(e *config.Environment) {
				e.Pools[1].WarmPoolSize = 1
				e.Pools[1].InstanceTypes = []string{"m7g.large", "m6g.large"}
			},
			want: `dev: pools[1].instanceTypes: a pool with a warm pool launches a single instance type (Auto Scaling refuses warm pools with mixed instances); keep one type or set warmPoolSize to 0`,
		},
		{
			name:   "GivenNoInstanceTypes_WhenValidated_ThenInstanceTypesMissing",
			mutate: func(e *config.Environment) { e.Pools[0].InstanceTypes = nil },
			want:   `dev: pools[0].instanceTypes: empty; list at least one arm64 instance type, for example ["m7g.large"]`,
		},
		{
			name:   "GivenX86InstanceType_WhenValidated_ThenArchitectureRefused",
			mutate: func(e *config.Environment) { e.Pools[0].InstanceTypes[1] = "m5.large" },
			want:   `dev: pools[0].instanceTypes[1]: "m5.large" is not an arm64 (Graviton) instance type; runners use arm64 images, so pick one such as m7g.large`,
		},
		{
			name:   "GivenX86ControllerType_WhenValidated_ThenControllerRefused",
			mutate: func(e *config.Environment) { e.Controller.InstanceType = "t3.small" },
			want:   `dev: controller.instanceType: "t3.small" is not an arm64 (Graviton) instance type; use one such as t4g.small`,
		},
		{
			name:   "GivenUnknownPoolKind_WhenValidated_ThenKindRefused",
			mutate: func(e *config.Environment) { e.Pools[0].Kind = "spot" },
			want:   `dev: pools[0].kind: "spot" is not a pool kind; use standard or long`,
		},
		{
			name:   "GivenLongPoolWithSpot_WhenValidated_ThenSpotRefused",
			mutate: func(e *config.Environment) { e.Pools[1].Spot = true },
			want:   `dev: pools[1].spot: a long pool cannot use spot: an interruption would kill a 30-hour task; set spot to false`,
		},
		{
			name:   "GivenLongPoolWithInstanceLifetime_WhenValidated_ThenLifetimeRefused",
			mutate: func(e *config.Environment) { e.Pools[1].MaxInstanceLifetimeHours = 48 },
			want:   `dev: pools[1].maxInstanceLifetimeHours: a long pool must not replace instances by age; set it to 0`,
		},
		{
			name:   "GivenStandardPoolRuntimeBeyondHookHold_WhenValidated_ThenRuntimeRefused",
			mutate: func(e *config.Environment) { e.Pools[0].MaxRuntimeHours = 25 },
			want:   `dev: pools[0].maxRuntimeHours: 25 h plus the watchdog's 15-minute grace is longer than the terminate hook can hold a busy runner (min(100 x 15 min heartbeat timeout, 48 h) = 25 h); use at most 24, or kind long (its hook holds 48 h)`,
		},
		{
			name:   "GivenLongPoolRuntimeBeyondHookHold_WhenValidated_ThenRuntimeRefused",
			mutate: func(e *config.Environment) { e.Pools[1].MaxRuntimeHours = 48 },
			want:   `dev: pools[1].maxRuntimeHours: 48 h plus the watchdog's 15-minute grace is longer than the terminate hook can hold a busy runner (min(100 x 2 h heartbeat timeout, 48 h) = 48 h); use at most 47`,
		},
		{
			name:   "GivenLongPoolWith24HourRuntime_WhenValidated_ThenRuntimeTooShort",
			mutate: func(e *config.Environment) { e.Pools[1].MaxRuntimeHours = 24 },
			want:   `dev: pools[1].maxRuntimeHours: 24 is below 31 hours; a long pool must outlive a 30-hour task`,
		},
		{
			name:   "GivenOnDemandBaseWithoutSpot_WhenValidated_ThenBaseRefused",
			mutate: func(e *config.Environment) { e.Pools[1].OnDemandBaseCapacity = 1 },
			want:   `dev: pools[1].onDemandBaseCapacity: only applies to spot pools; set spot to true or remove the field`,
		},
		{
			name:   "GivenBlankRunnerGroup_WhenValidated_ThenGroupRefused",
			mutate: func(e *config.Environment) { e.Pools[0].RunnerGroup = "  " },
			want:   `dev: pools[0].runnerGroup: empty; name the GitHub runner group, or remove the field for Default`,
		},
		{
			name:   "GivenUnknownPackage_WhenValidated_ThenPackageRefused",
			mutate: func(e *config.Environment) { e.Pools[0].Packages = []string{"git", "python3"} },
			want:   `dev: pools[0].packages[1]: "python3" is not a package the boot script installs; choose from [git jq awscli java11-maven docker]`,
		},
		{
			// Both names default the same scale set, so that is reported too.
			name:   "GivenTwoPoolsNamedDefault_WhenValidated_ThenNameAndScaleSetReported",
			mutate: func(e *config.Environment) { e.Pools[1].Name = "default" },
			want: `dev: pools[1].name: "default" is used by another pool; give each pool its own name` + "\n" +
				`dev: pools[1].scaleSetName: "synapse-dev" is used by another pool; each pool needs its own scale set`,
		},
		{
			name:   "GivenScaleSetNameOfAnotherPool_WhenValidated_ThenScaleSetReported",
			mutate: func(e *config.Environment) { e.Pools[1].ScaleSetName = "synapse-dev" },
			want:   `dev: pools[1].scaleSetName: "synapse-dev" is used by another pool; each pool needs its own scale set`,
		},
		{
			name:   "GivenNoPools_WhenValidated_ThenPoolsMissing",
			mutate: func(e *config.Environment) { e.Pools = nil },
			want:   `dev: pools: missing; define at least the default pool`,
		},
		{
			name:   "GivenRepositoryWithoutOwner_WhenValidated_ThenRepositoryRefused",
			mutate: func(e *config.Environment) { e.Repository = "synapse-ops-dev" },
			want:   `dev: repository: "synapse-ops-dev" is not a GitHub repository; use owner/name, for example Sage-Bionetworks/synapse-ops-dev`,
		},
		{
			name:   "GivenRepositoryNamedDotDot_WhenValidated_ThenRepositoryRefused",
			mutate: func(e *config.Environment) { e.Repository = "Sage-Bionetworks/.." },
			want:   `dev: repository: "Sage-Bionetworks/.." is not a GitHub repository; use owner/name, for example Sage-Bionetworks/synapse-ops-dev`,
		},
		{
			name:   "GivenWildcardSubject_WhenValidated_ThenWildcardRefused",
			mutate: func(e *config.Environment) { e.GitHubOidc.Subjects[0] = "ref:refs/heads/*" },
			want:   `dev: githubOidc.subjects[0]: "ref:refs/heads/*" contains a wildcard; name one environment or branch, for example environment:dev`,
		},
		{
			name: "GivenFullSubjectWithRepoPrefix_WhenValidated_ThenSuffixFormRequired",
			mutate: func(e *config.Environment) {
				e.GitHubOidc.Subjects[0] = "repo:Sage-Bionetworks/synapse-ops-dev:ref:refs/heads/main"
			},
			want: `dev: githubOidc.subjects[0]: "repo:Sage-Bionetworks/synapse-ops-dev:ref:refs/heads/main" is not a GitHub OIDC subject suffix; use environment:<name>, ref:refs/heads/<branch>, ref:refs/tags/<tag> or pull_request`,
		},
		{
			name:   "GivenNoSubjects_WhenValidated_ThenSubjectsMissing",
			mutate: func(e *config.Environment) { e.GitHubOidc.Subjects = nil },
			want:   `dev: githubOidc.subjects: missing; list the subjects allowed to deploy, for example ["ref:refs/heads/main"]`,
		},
		{
			name: "GivenProdWithFeatureBranchSubject_WhenValidated_ThenOnlyProdSubjectsAllowed",
			prod: true,
			mutate: func(e *config.Environment) {
				e.GitHubOidc.Subjects = []string{"environment:prod", "ref:refs/heads/develop"}
			},
			want: `prod: githubOidc.subjects[1]: "ref:refs/heads/develop" is not allowed for prod: any job of the repository that names no environment (on main too: a schedule, a workflow_run or issue_comment handler) could present it and deploy without the prod environment's reviewers; use environment:prod only`,
		},
		{
			name: "GivenProdWithMainBranchSubject_WhenValidated_ThenRefusedBecauseSchedulesOnMainHaveIt",
			prod: true,
			mutate: func(e *config.Environment) {
				e.GitHubOidc.Subjects = []string{"ref:refs/heads/main", "environment:prod"}
			},
			want: `prod: githubOidc.subjects[0]: "ref:refs/heads/main" is not allowed for prod: any job of the repository that names no environment (on main too: a schedule, a workflow_run or issue_comment handler) could present it and deploy without the prod environment's reviewers; use environment:prod only`,
		},
		{
			name:   "GivenProdWithOtherEnvironmentSubject_WhenValidated_ThenRefused",
			prod:   true,
			mutate: func(e *config.Environment) { e.GitHubOidc.Subjects = []string{"environment:dev"} },
			want:   `prod: githubOidc.subjects[0]: "environment:dev" is not allowed for prod: any job of the repository that names no environment (on main too: a schedule, a workflow_run or issue_comment handler) could present it and deploy without the prod environment's reviewers; use environment:prod only`,
		},
		{
			name:   "GivenProdWithPullRequestSubject_WhenValidated_ThenOnlyProdSubjectsAllowed",
			prod:   true,
			mutate: func(e *config.Environment) { e.GitHubOidc.Subjects = []string{"pull_request"} },
			want:   `prod: githubOidc.subjects[0]: "pull_request" is not allowed for prod: any job of the repository that names no environment (on main too: a schedule, a workflow_run or issue_comment handler) could present it and deploy without the prod environment's reviewers; use environment:prod only`,
		},
		{
			name: "GivenProviderArnOfProdAccountInDev_WhenValidated_ThenProviderAccountRefused",
			mutate: func(e *config.Environment) {
				e.GitHubOidc.ProviderArn = "arn:aws:iam::325565585839:oidc-provider/token.actions.githubusercontent.com"
			},
			want: `dev: githubOidc.providerArn: provider is in account 325565585839, not 449435941126; use this account's provider`,
		},
		{
			name: "GivenProviderArnOfAnotherIssuer_WhenValidated_ThenProviderRefused",
			mutate: func(e *config.Environment) {
				e.GitHubOidc.ProviderArn = "arn:aws:iam::449435941126:oidc-provider/gitlab.com"
			},
			want: `dev: githubOidc.providerArn: "arn:aws:iam::449435941126:oidc-provider/gitlab.com" is not the ARN of a token.actions.githubusercontent.com provider; use arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com`,
		},
		{
			name: "GivenCreateProviderAndProviderArn_WhenValidated_ThenConflictReported",
			mutate: func(e *config.Environment) {
				e.GitHubOidc.CreateProvider = true
				e.GitHubOidc.ProviderArn = "arn:aws:iam::449435941126:oidc-provider/token.actions.githubusercontent.com"
			},
			want: `dev: githubOidc.providerArn: set together with createProvider; remove providerArn to create the provider, or createProvider to import it`,
		},
		{
			name:   "GivenBadReviewRepository_WhenValidated_ThenReviewRepositoryRefused",
			mutate: func(e *config.Environment) { e.GitHubOidc.ReviewRepository = "Sage-Bionetworks" },
			want:   `dev: githubOidc.reviewRepository: "Sage-Bionetworks" is not a GitHub repository; use owner/name or remove the field`,
		},
		{
			name:   "GivenDeploymentRoleInProdAccount_WhenValidated_ThenRoleAccountRefused",
			mutate: func(e *config.Environment) { e.DeploymentRoleArn = "arn:aws:iam::325565585839:role/synapse-deployment" },
			want:   `dev: deploymentRoleArn: role is in account 325565585839, not this environment's account 449435941126; use this account's deployment role`,
		},
		{
			name:   "GivenDeploymentUserNotRole_WhenValidated_ThenRoleArnRefused",
			mutate: func(e *config.Environment) { e.DeploymentRoleArn = "arn:aws:iam::449435941126:user/deployer" },
			want:   `dev: deploymentRoleArn: "arn:aws:iam::449435941126:user/deployer" is not an IAM role ARN; use arn:aws:iam::<account>:role/<name>`,
		},
		{
			name:   "GivenHTTPSynapseHost_WhenValidated_ThenHTTPSRequired",
			mutate: func(e *config.Environment) { e.SynapseHost = "http://repo-dev.dev.sagebase.org" },
			want:   `dev: synapseHost: "http://repo-dev.dev.sagebase.org" is not an https origin; use the form https://repo-dev.dev.sagebase.org`,
		},
		{
			// Jobs append /repo/v1/..., so a trailing slash would make "//repo".
			name:   "GivenSynapseHostWithTrailingSlash_WhenValidated_ThenOriginRequired",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org/" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org/" is not an https origin; use the form https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithPath_WhenValidated_ThenOriginRequired",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org/repo/v1" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org/repo/v1" is not an https origin; use the form https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithUserInfo_WhenValidated_ThenTheRealHostIsNamed",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org@evil.example" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org@evil.example" has user info before "@", so requests would go to evil.example; use the form https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithPassword_WhenValidated_ThenUserInfoRefused",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://admin:secret@repo-dev.dev.sagebase.org" },
			want:   `dev: synapseHost: "https://admin:secret@repo-dev.dev.sagebase.org" has user info before "@", so requests would go to repo-dev.dev.sagebase.org; use the form https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithQuery_WhenValidated_ThenQueryRefused",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org?x=1" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org?x=1" has a query or a fragment; use the bare origin, for example https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithEmptyQuery_WhenValidated_ThenQueryRefused",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org?" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org?" has a query or a fragment; use the bare origin, for example https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenSynapseHostWithFragment_WhenValidated_ThenFragmentRefused",
			mutate: func(e *config.Environment) { e.SynapseHost = "https://repo-dev.dev.sagebase.org#top" },
			want:   `dev: synapseHost: "https://repo-dev.dev.sagebase.org#top" has a query or a fragment; use the bare origin, for example https://repo-dev.dev.sagebase.org`,
		},
		{
			name:   "GivenNoCostCenterTag_WhenValidated_ThenTagMissing",
			mutate: func(e *config.Environment) { delete(e.Tags, "CostCenter") },
			want:   `dev: tags.CostCenter: missing; every resource must carry CostCenter, for example "Platform Infrastructure / 990300"`,
		},
		{
			name:   "GivenBlankOwnerEmailTag_WhenValidated_ThenTagMissing",
			mutate: func(e *config.Environment) { e.Tags["OwnerEmail"] = " " },
			want:   `dev: tags.OwnerEmail: missing; every resource must carry OwnerEmail, for example "synapseeng@sagebase.org"`,
		},
		{
			name:   "GivenOwnerEmailWithoutDomain_WhenValidated_ThenEmailRefused",
			mutate: func(e *config.Environment) { e.Tags["OwnerEmail"] = "synapseeng" },
			want:   `dev: tags.OwnerEmail: "synapseeng" is not an email address; use the owning team's address`,
		},
		{
			name:   "GivenAwsPrefixedTag_WhenValidated_ThenReservedPrefixRefused",
			mutate: func(e *config.Environment) { e.Tags["AWS:createdBy"] = "me" },
			want:   `dev: tags.AWS:createdBy: keys starting with aws: are reserved by AWS; rename the tag`,
		},
		{
			name:   "GivenTagValueWithSemicolon_WhenValidated_ThenValueRefused",
			mutate: func(e *config.Environment) { e.Tags["Team"] = "a;b" },
			want:   `dev: tags.Team: "a;b" is not a valid tag value; use at most 256 letters, digits, spaces and _.:/=+-@`,
		},
		{
			name:   "GivenUppercaseFloorSHA_WhenValidated_ThenChecksumRefused",
			mutate: func(e *config.Environment) { e.Runner.MinimumSHA256 = strings.ToUpper(runnerSHA) },
			want:   `dev: runner.minimumSha256: "` + strings.ToUpper(runnerSHA) + `" is not a SHA-256; copy the 64 lowercase hex digits of actions-runner-linux-arm64-2.335.1.tar.gz from the release page`,
		},
		{
			name:   "GivenTruncatedFloorSHA_WhenValidated_ThenChecksumRefused",
			mutate: func(e *config.Environment) { e.Runner.MinimumSHA256 = runnerSHA[:63] },
			want:   `dev: runner.minimumSha256: "` + runnerSHA[:63] + `" is not a SHA-256; copy the 64 lowercase hex digits of actions-runner-linux-arm64-2.335.1.tar.gz from the release page`,
		},
		{
			name:   "GivenFloorWithV_WhenValidated_ThenFloorRefused",
			mutate: func(e *config.Environment) { e.Runner.MinimumVersion = "v2.335.1" },
			want:   `dev: runner.minimumVersion: "v2.335.1" is not a runner release; use the actions/runner version without v, for example 2.329.0`,
		},
		{
			name:   "GivenFloorBelowGitHubsMinimum_WhenValidated_ThenFloorRefused",
			mutate: func(e *config.Environment) { e.Runner.MinimumVersion = "2.328.9" },
			want:   `dev: runner.minimumVersion: 2.328.9 is older than 2.329.0, which GitHub refuses to register; raise it to a current release with its SHA-256`,
		},
		{
			name:   "GivenNoFloor_WhenValidated_ThenFloorMissing",
			mutate: func(e *config.Environment) { e.Runner.MinimumVersion = ""; e.Runner.MinimumSHA256 = runnerSHA },
			want:   `dev: runner.minimumVersion: missing; set the floor release instances use until the controller publishes one, at least 2.329.0`,
		},
		{
			name:   "GivenAdoptAfter21Days_WhenValidated_ThenTooLateForGitHub",
			mutate: func(e *config.Environment) { e.Runner.AdoptAfterDays = 21 },
			want:   `dev: runner.adoptAfterDays: 21 is outside 1..20 days; GitHub stops runners that lag a release by 30 days`,
		},
		{
			name:   "GivenPinWithoutSHA_WhenValidated_ThenPinChecksumMissing",
			mutate: func(e *config.Environment) { e.Runner.Version = "2.336.0" },
			want:   `dev: runner.sha256: "" is not a SHA-256; a pin needs the 64 lowercase hex digits of actions-runner-linux-arm64-2.336.0.tar.gz from the release page`,
		},
		{
			name:   "GivenShaWithoutPin_WhenValidated_ThenPinVersionMissing",
			mutate: func(e *config.Environment) { e.Runner.SHA256 = runnerSHA },
			want:   `dev: runner.version: "" is not a runner release; use the actions/runner version without v, for example 2.335.1, or remove the pin`,
		},
		{
			name:   "GivenPinBelowFloor_WhenValidated_ThenPinRefused",
			mutate: func(e *config.Environment) { e.Runner.Version = "2.334.0"; e.Runner.SHA256 = runnerSHA },
			want:   `dev: runner.version: pin 2.334.0 is older than runner.minimumVersion 2.335.1; pin a newer release or remove the pin`,
		},
		{
			name:   "GivenNoBudget_WhenValidated_ThenBudgetMissing",
			mutate: func(e *config.Environment) { e.Budget.MonthlyUsd = 0 },
			want:   `dev: budget.monthlyUsd: 0 is outside 1..100000 US dollars; set the fleet's expected monthly cost with some headroom, for example 300`,
		},
		{
			name: "GivenIDAndExportPrefix_WhenValidated_ThenOnlyOneAllowed",
			mutate: func(e *config.Environment) {
				e.Vpc.ExportPrefix = "us-east-1-synapse-ops-vpc-v2"
				e.Vpc.PrivateSubnets = []config.Subnet{{Export: "PrivateSubnet1", AvailabilityZone: "us-east-1c"}}
			},
			want: `dev: vpc.id: set together with vpc.exportPrefix; name the VPC by id or by its exports, not both`,
		},
		{
			name: "GivenExportsWithSubnetID_WhenValidated_ThenExportRequired",
			mutate: func(e *config.Environment) {
				e.Vpc.ID = ""
				e.Vpc.ExportPrefix = "us-east-1-synapse-ops-vpc-v2"
				e.Vpc.PrivateSubnets = []config.Subnet{{ID: subnetC, AvailabilityZone: "us-east-1c"}, {Export: "PrivateSubnet1", AvailabilityZone: "us-east-1d"}}
			},
			want: `dev: vpc.privateSubnets[0].id: a VPC named by exports names its subnets by export; replace id and routeTableId with "export", for example PrivateSubnet1`,
		},
		{
			name: "GivenSubnetExportWithoutPrefix_WhenValidated_ThenPrefixRequired",
			mutate: func(e *config.Environment) {
				e.Vpc.PrivateSubnets[1].Export = "PrivateSubnet1"
			},
			want: `dev: vpc.privateSubnets[1].export: only applies with vpc.exportPrefix; set the prefix or use the subnet id`,
		},
		{
			name: "GivenSameExportTwice_WhenValidated_ThenDuplicateRefused",
			mutate: func(e *config.Environment) {
				e.Vpc.ID = ""
				e.Vpc.ExportPrefix = "us-east-1-synapse-ops-vpc-v2"
				e.Vpc.PrivateSubnets = []config.Subnet{{Export: "PrivateSubnet1", AvailabilityZone: "us-east-1c"}, {Export: "PrivateSubnet1", AvailabilityZone: "us-east-1d"}}
			},
			want: `dev: vpc.privateSubnets[1].export: "PrivateSubnet1" is listed twice; list each subnet once`,
		},
		{
			name:   "GivenRouteTableExportWithoutPrefix_WhenValidated_ThenPrefixRequired",
			mutate: func(e *config.Environment) { e.Vpc.RouteTableExport = "PrivateRouteTable" },
			want:   `dev: vpc.routeTableExport: only applies with vpc.exportPrefix; set the prefix or remove the field`,
		},
		{
			name: "GivenAmiIDAndAmiParameter_WhenValidated_ThenOnlyOneAllowed",
			mutate: func(e *config.Environment) {
				e.Runner.AmiID = "ami-0123456789abcdef0"
				e.Runner.AmiSsmParameter = "/hardened/arm64"
			},
			want: `dev: runner.amiId: set together with runner.amiSsmParameter; keep only one of them`,
		},
		{
			name:   "GivenMalformedAmiID_WhenValidated_ThenAmiIDRefused",
			mutate: func(e *config.Environment) { e.Runner.AmiID = "ami-xyz" },
			want:   `dev: runner.amiId: "ami-xyz" is not an AMI id; use the form ami-0123456789abcdef0`,
		},
		{
			name:   "GivenCredentialSecretEqualToAdminSecret_WhenValidated_ThenSeparateSecretRequired",
			mutate: func(e *config.Environment) { e.GitHubCredential.SecretName = "/synapse/admin-pat" },
			want:   `dev: githubCredential.secretName: same secret as adminToken.secretName; runners may read the admin token but never the GitHub credential, so use a separate secret`,
		},
		{
			name:   "GivenUnknownCredentialKind_WhenValidated_ThenKindRefused",
			mutate: func(e *config.Environment) { e.GitHubCredential.Kind = "oauth" },
			want:   `dev: githubCredential.kind: "oauth" is not a credential kind; use app (GitHub App, preferred) or pat`,
		},
		{
			name: "GivenACredentialAdminThatIsNotAnArn_WhenValidated_ThenArnFormShown",
			mutate: func(e *config.Environment) {
				e.GitHubCredential.AdminPrincipalArns = []string{"break-glass"}
			},
			want: `dev: githubCredential.adminPrincipalArns[0]: "break-glass" is not an IAM role or user ARN; use arn:aws:iam::<account>:role/<name>`,
		},
		{
			name:   "GivenLogRetentionOf45Days_WhenValidated_ThenChoicesListed",
			mutate: func(e *config.Environment) { e.LogRetentionDays = 45 },
			want:   `dev: logRetentionDays: 45 is not a CloudWatch Logs retention; choose one of ` + retentionChoices,
		},
		{
			name:   "GivenAlarmEmailWithoutAt_WhenValidated_ThenEmailRefused",
			mutate: func(e *config.Environment) { e.AlarmEmail = "synapseeng.sagebase.org" },
			want:   `dev: alarmEmail: "synapseeng.sagebase.org" is not an email address; set an address or remove the field`,
		},
		{
			name:   "GivenUppercaseCdkQualifier_WhenValidated_ThenQualifierRefused",
			mutate: func(e *config.Environment) { e.CdkBootstrap.Qualifier = "HNB659FDS" },
			want:   `dev: cdkBootstrap.qualifier: "HNB659FDS" is not a CDK qualifier; use up to 10 lowercase letters or digits (default hnb659fds)`,
		},
		{
			name:   "GivenShortTrustAccount_WhenValidated_ThenTrustAccountRefused",
			mutate: func(e *config.Environment) { e.CdkBootstrap.TrustAccounts = []string{"1234"} },
			want:   `dev: cdkBootstrap.trustAccounts[0]: "1234" is not a 12-digit AWS account id`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := rawDev()
			if tc.prod {
				e = rawProd()
			}
			tc.mutate(&e)
			got := errText(e.WithDefaults().Validate())
			if got != tc.want {
				t.Errorf("Validate() error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestValidate_GivenAllowedVariation_ThenNoError guards the other side of each
// rule: values a user legitimately writes must not be refused.
func TestValidate_GivenAllowedVariation_ThenNoError(t *testing.T) {
	cases := []struct {
		name   string
		prod   bool
		mutate func(e *config.Environment)
	}{
		{"GivenDevBase_ThenValid", false, func(*config.Environment) {}},
		{"GivenProdBase_ThenValid", true, func(*config.Environment) {}},
		{"GivenPlaceholderVpcAndSubnets_ThenValid", false, func(e *config.Environment) {
			e.Vpc.ID = config.PlaceholderSubnetID
			e.Vpc.PrivateSubnets[0].ID = config.PlaceholderSubnetID
			e.Vpc.PrivateSubnets[1].ID = config.PlaceholderSubnetID // two placeholders are not a duplicate
		}},
		{"GivenShortStyleIDs_ThenValid", false, func(e *config.Environment) {
			e.Vpc.ID = "vpc-c08848ba"
			e.Vpc.PrivateSubnets[0].ID = "subnet-0a1b2c3d"
			e.Vpc.PrivateSubnets[0].RouteTableID = "rtb-0a1b2c3d"
		}},
		{"GivenDevTagAndPullRequestSubjects_ThenValid", false, func(e *config.Environment) {
			e.GitHubOidc.Subjects = []string{"ref:refs/tags/v1.2.3", "pull_request"}
		}},
		{"GivenCreateProviderWithoutArn_ThenValid", false, func(e *config.Environment) { e.GitHubOidc.CreateProvider = true }},
		{"GivenCreatedAdminTokenWithBreakGlassAdmins_ThenValid", false, func(e *config.Environment) {
			e.AdminToken.Create = true
			e.AdminToken.AdminPrincipalArns = []string{"arn:aws:iam::449435941126:role/break-glass", "arn:aws:iam::449435941126:user/oncall"}
		}},
		{"GivenPinnedAmiID_ThenValid", false, func(e *config.Environment) { e.Runner.AmiID = "ami-0123456789abcdef0" }},
		{"GivenOtherGravitonFamilies_ThenValid", false, func(e *config.Environment) {
			e.Pools[0].InstanceTypes = []string{"c7gn.xlarge", "r8g.2xlarge", "x2gd.large", "im4gn.large", "t4g.medium"}
		}},
		{"GivenLongPoolWith47HourRuntime_ThenValid", false, func(e *config.Environment) { e.Pools[1].MaxRuntimeHours = 47 }},
		{"GivenStandardPoolWithLifetime_ThenValid", false, func(e *config.Environment) { e.Pools[0].MaxInstanceLifetimeHours = 24 }},
		{"GivenSpotPoolWithOnDemandBase_ThenValid", false, func(e *config.Environment) { e.Pools[0].OnDemandBaseCapacity = 2 }},
		{"GivenMinIdleEqualToMax_ThenValid", false, func(e *config.Environment) { e.Pools[1].Min, e.Pools[1].MinIdle = 3, 3 }},
		{"GivenNoPackages_ThenValid", false, func(e *config.Environment) { e.Pools[0].Packages = []string{} }},
		{"GivenUnicodeTagValue_ThenValid", false, func(e *config.Environment) { e.Tags["Project"] = "Synapse Ops / Zürich" }},
		{"GivenAlarmEmail_ThenValid", false, func(e *config.Environment) { e.AlarmEmail = "synapseeng@sagebase.org" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := rawDev()
			if tc.prod {
				e = rawProd()
			}
			tc.mutate(&e)
			if err := e.WithDefaults().Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// TestValidate_GivenSeveralProblems_ThenAllJoinedOneLineEach checks that one
// run reports every problem (errors.Join), in a stable order, one per line.
func TestValidate_GivenSeveralProblems_ThenAllJoinedOneLineEach(t *testing.T) {
	e := rawDev()
	e.Vpc.ID = ""
	e.Pools[0].InstanceTypes = []string{"m5.large"}
	e.Pools[1].Spot = true
	e.Tags["aws:x"] = "y"
	delete(e.Tags, "CostCenter")
	e.SynapseHost = "http://repo-dev.dev.sagebase.org"

	err := e.WithDefaults().Validate()
	want := []string{
		`dev: vpc.id: missing; set the id of the existing VPC the runners run in (vpc-...), or name it by its stack's exports with vpc.exportPrefix`,
		`dev: synapseHost: "http://repo-dev.dev.sagebase.org" is not an https origin; use the form https://repo-dev.dev.sagebase.org`,
		`dev: pools[0].instanceTypes[0]: "m5.large" is not an arm64 (Graviton) instance type; runners use arm64 images, so pick one such as m7g.large`,
		`dev: pools[1].spot: a long pool cannot use spot: an interruption would kill a 30-hour task; set spot to false`,
		`dev: tags.CostCenter: missing; every resource must carry CostCenter, for example "Platform Infrastructure / 990300"`,
		`dev: tags.aws:x: keys starting with aws: are reserved by AWS; rename the tag`,
	}
	if got := errText(err); got != strings.Join(want, "\n") {
		t.Fatalf("Validate() error\n got: %s\nwant: %s", got, strings.Join(want, "\n"))
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() returned %T, want an errors.Join result", err)
	}
	if n := len(joined.Unwrap()); n != len(want) {
		t.Errorf("Validate() joined %d errors, want %d", n, len(want))
	}
	for i, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "dev: ") {
			t.Errorf("line %d %q does not start with the environment name", i, line)
		}
	}
	// Repeating the run gives the same text: map iteration must not leak into the order.
	for range 20 {
		if again := errText(e.WithDefaults().Validate()); again != err.Error() {
			t.Fatalf("second Validate() differs:\n%s\nvs\n%s", again, err)
		}
	}
}

// TestValidateAll_GivenCrossEnvironmentConflict_ThenExactMessage covers the
// rules no single environment can check.
func TestValidateAll_GivenCrossEnvironmentConflict_ThenExactMessage(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(dev, prod *config.Environment)
		want   string
	}{
		{
			name: "GivenProdInDevAccount_WhenValidatedTogether_ThenSharedAccountRefused",
			mutate: func(_, prod *config.Environment) {
				prod.Account = devAccount
				prod.DeploymentRoleArn = "arn:aws:iam::" + devAccount + ":role/synapse-deployment"
			},
			want: `prod: account: 449435941126 is also the account of dev; dev and prod must never share an account`,
		},
		{
			// GitHub names are case-insensitive, so a case change is the same repository.
			name:   "GivenProdUsingDevRepositoryInOtherCase_WhenValidatedTogether_ThenSharedRepositoryRefused",
			mutate: func(_, prod *config.Environment) { prod.Repository = "sage-bionetworks/Synapse-Ops-Dev" },
			want:   `prod: repository: sage-bionetworks/Synapse-Ops-Dev is also the repository of dev; each environment needs its own ops repository`,
		},
		{
			name: "GivenTwoEnvironmentsNamedDev_WhenValidatedTogether_ThenNameRefused",
			mutate: func(_, prod *config.Environment) {
				prod.Name = "dev"
				prod.GitHubOidc.Subjects = []string{"environment:dev"}
			},
			want: `dev: name: defined twice; each environment needs its own name`,
		},
		{
			name: "GivenOneInvalidEnvironment_WhenValidatedTogether_ThenItsProblemsIncluded",
			mutate: func(dev, _ *config.Environment) {
				dev.Pools[0].Max = 5
				dev.Pools[0].Min = 6
			},
			want: `dev: pools[0].min: min 6 is greater than max 5; lower min or raise max`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dev, prod := rawDev(), rawProd()
			tc.mutate(&dev, &prod)
			got := errText(config.ValidateAll([]config.Environment{dev.WithDefaults(), prod.WithDefaults()}))
			if got != tc.want {
				t.Errorf("ValidateAll() error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}

	t.Run("GivenNoEnvironments_WhenValidatedTogether_ThenAskedToAddOne", func(t *testing.T) {
		want := `no environments configured; add environments/<name>.json`
		if got := errText(config.ValidateAll(nil)); got != want {
			t.Errorf("ValidateAll(nil)\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("GivenDevAndProd_WhenValidatedTogether_ThenValid", func(t *testing.T) {
		if err := config.ValidateAll([]config.Environment{rawDev().WithDefaults(), rawProd().WithDefaults()}); err != nil {
			t.Errorf("ValidateAll() = %v, want nil", err)
		}
	})
}

// TestSelect covers --context env=<name>.
func TestSelect(t *testing.T) {
	envs := []config.Environment{rawDev().WithDefaults(), rawProd().WithDefaults()}
	t.Run("GivenUnknownEnv_WhenSelected_ThenValidChoicesListed", func(t *testing.T) {
		got, err := config.Select(envs, "staging")
		want := `env: "staging" is not a configured environment; use --context env=<name> with one of: dev, prod`
		if errText(err) != want || got != nil {
			t.Errorf("Select(staging) = %v, %q; want nil, %q", got, errText(err), want)
		}
	})
	t.Run("GivenEnvInOtherCase_WhenSelected_ThenRefusedNotGuessed", func(t *testing.T) {
		_, err := config.Select(envs, "Prod")
		want := `env: "Prod" is not a configured environment; use --context env=<name> with one of: dev, prod`
		if errText(err) != want {
			t.Errorf("Select(Prod) error\n got: %s\nwant: %s", errText(err), want)
		}
	})
	t.Run("GivenProd_WhenSelected_ThenOnlyProd", func(t *testing.T) {
		got, err := config.Select(envs, "prod")
		if err != nil || len(got) != 1 || got[0].Name != "prod" || got[0].Account != prodAccount {
			t.Errorf("Select(prod) = %+v, %v; want only prod", got, err)
		}
	})
	t.Run("GivenNoEnv_WhenSelected_ThenAll", func(t *testing.T) {
		got, err := config.Select(envs, "")
		if err != nil || len(got) != 2 || got[0].Name != "dev" || got[1].Name != "prod" {
			t.Errorf("Select(\"\") = %+v, %v; want dev and prod", got, err)
		}
	})
}

// TestHasPlaceholders lists exactly the "TODO" paths, so synth can warn about each.
func TestHasPlaceholders(t *testing.T) {
	e := rawDev()
	if got := e.HasPlaceholders(); got != nil {
		t.Errorf("HasPlaceholders() on real ids = %v, want none", got)
	}
	e.Vpc.ID = "TODO"
	e.Vpc.PrivateSubnets[1].ID = "todo"
	want := []string{"vpc.id", "vpc.privateSubnets[1].id"}
	if got := e.HasPlaceholders(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("HasPlaceholders() = %v, want %v", got, want)
	}
}
