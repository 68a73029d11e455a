package test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

func TestGivenCommittedConfig_WhenSynthesized_ThenEachStackIsPinnedToItsAccountAndRegion(t *testing.T) {
	s := committedStacks(t)
	want := map[string]string{"dev": "449435941126", "prod": "325565585839"}
	for _, env := range envNames {
		stack := s.stacks[env]
		if got := *stack.Account(); got != want[env] {
			t.Errorf("%s: account %s, want %s", env, got, want[env])
		}
		if got := *stack.Region(); got != "us-east-1" {
			t.Errorf("%s: region %s, want us-east-1", env, got)
		}
		if got := *stack.StackName(); got != "synapse-ops-runners-"+env {
			t.Errorf("%s: stack name %s", env, got)
		}
	}
}

func TestGivenEachPool_ThenItsLaunchTemplateIsHardened(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		tpl := s.template(env)
		// Two pools plus the controller: every launch template carries the same hardening.
		tpl.ResourceCountIs(jsii.String("AWS::EC2::LaunchTemplate"), jsii.Number(3))
		for id, lt := range s.resources(env, "AWS::EC2::LaunchTemplate") {
			data := props(lt)["LaunchTemplateData"].(map[string]any)
			md := data["MetadataOptions"].(map[string]any)
			if md["HttpTokens"] != "required" || md["HttpPutResponseHopLimit"] != float64(1) {
				t.Errorf("%s %s: IMDS options %v, want IMDSv2 required with hop limit 1", env, id, md)
			}
			if data["InstanceInitiatedShutdownBehavior"] != "terminate" {
				t.Errorf("%s %s: shutdown behaviour %v, want terminate", env, id, data["InstanceInitiatedShutdownBehavior"])
			}
			if data["KeyName"] != nil {
				t.Errorf("%s %s: has a key pair; access is Session Manager only", env, id)
			}
			nics := asList(data["NetworkInterfaces"])
			if len(nics) == 0 {
				t.Errorf("%s %s: no network interface settings; public IP must be explicitly off", env, id)
			}
			for _, n := range nics {
				if n.(map[string]any)["AssociatePublicIpAddress"] != false {
					t.Errorf("%s %s: network interface %v may get a public IP", env, id, n)
				}
			}
			devices := asList(data["BlockDeviceMappings"])
			if len(devices) != 1 {
				t.Fatalf("%s %s: %d block devices, want the root volume only", env, id, len(devices))
			}
			ebs := devices[0].(map[string]any)["Ebs"].(map[string]any)
			if ebs["Encrypted"] != true || ebs["DeleteOnTermination"] != true || ebs["VolumeType"] != "gp3" {
				t.Errorf("%s %s: root volume %v, want encrypted gp3 deleted on termination", env, id, ebs)
			}
			if _, ok := data["ImageId"].(map[string]any); !ok {
				t.Errorf("%s %s: ImageId %v is not resolved at deploy time", env, id, data["ImageId"])
			}
		}
	}
}

func TestGivenPools_ThenTheAmiIsResolvedFromSsmAtDeployTime(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		params := s.templates[env]["Parameters"].(map[string]any)
		found := false
		for _, p := range params {
			pm := p.(map[string]any)
			if pm["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>" && pm["Default"] == config.DefaultAmiSsmParameter {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no SSM image parameter %s", env, config.DefaultAmiSsmParameter)
		}
	}
}

var secretLike = regexp.MustCompile(`(?i)(ghp_|github_pat_|ghs_|AKIA[0-9A-Z]{16}|PRIVATE KEY|--token\s|jitconfig\s+[A-Za-z0-9+/=]{20,}|registration-token)`)

func TestGivenPools_ThenUserDataCarriesNoTokenAndFetchesItsJitConfigFromSsm(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		for id, lt := range s.resources(env, "AWS::EC2::LaunchTemplate") {
			ud := jsonString(t, props(lt)["LaunchTemplateData"].(map[string]any)["UserData"])
			if m := secretLike.FindString(ud); m != "" {
				t.Errorf("%s %s: user data contains %q", env, id, m)
			}
			if strings.Contains(id, "Pool") {
				for _, want := range []string{e.JitParameterPrefix(), "--should-decrement-desired-capacity", "sha256sum", "runner-checksum-mismatch", e.RunnerReleaseParameter(), "credential_source = Ec2InstanceMetadata", e.DeploymentRoleArn, e.Runner.MinimumSHA256, "ACTIONS_RUNNER_INPUT_JITCONFIG"} {
					if !strings.Contains(ud, want) {
						t.Errorf("%s %s: user data lacks %q", env, id, want)
					}
				}
			}
		}
	}
}

func TestGivenPools_ThenGroupsScaleSafelyAndLongPoolNeverRebalances(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		groups := s.resources(env, "AWS::AutoScaling::AutoScalingGroup")
		if len(groups) != len(e.Pools)+1 {
			t.Fatalf("%s: %d groups, want %d pools + controller", env, len(groups), len(e.Pools))
		}
		for _, pool := range e.Pools {
			name := e.AutoScalingGroupName(pool)
			var g map[string]any
			for _, r := range groups {
				if props(r)["AutoScalingGroupName"] == name {
					g = props(r)
				}
			}
			if g == nil {
				t.Fatalf("%s: no group named %s", env, name)
			}
			if g["NewInstancesProtectedFromScaleIn"] != true {
				t.Errorf("%s %s: new instances are not protected from scale-in", env, name)
			}
			if g["CapacityRebalance"] != false {
				t.Errorf("%s %s: capacity rebalance %v, want off", env, name, g["CapacityRebalance"])
			}
			if _, has := g["DesiredCapacity"]; has {
				t.Errorf("%s %s: desired capacity set in the template; a deploy would reset the controller's value", env, name)
			}
			if g["MinSize"] != fmt.Sprint(pool.Min) || g["MaxSize"] != fmt.Sprint(pool.Max) {
				t.Errorf("%s %s: size %v..%v, want %d..%d", env, name, g["MinSize"], g["MaxSize"], pool.Min, pool.Max)
			}
			mip := g["MixedInstancesPolicy"].(map[string]any)
			dist := mip["InstancesDistribution"].(map[string]any)
			var types []string
			for _, o := range asList(mip["LaunchTemplate"].(map[string]any)["Overrides"]) {
				types = append(types, o.(map[string]any)["InstanceType"].(string))
			}
			if !slices.Equal(types, pool.InstanceTypes) {
				t.Errorf("%s %s: instance types %v, want %v", env, name, types, pool.InstanceTypes)
			}
			if pool.IsLong() {
				if dist["OnDemandPercentageAboveBaseCapacity"] != float64(100) || dist["SpotAllocationStrategy"] != nil {
					t.Errorf("%s %s: long pool distribution %v, want on-demand only", env, name, dist)
				}
				if g["MaxInstanceLifetime"] != nil {
					t.Errorf("%s %s: long pool has a max instance lifetime", env, name)
				}
			} else if pool.Spot {
				if dist["OnDemandPercentageAboveBaseCapacity"] != float64(0) || dist["SpotAllocationStrategy"] != "capacity-optimized" {
					t.Errorf("%s %s: spot pool distribution %v, want capacity-optimized spot", env, name, dist)
				}
			}
		}
		// AZRebalance is suspended by the controller (see currency_test.go),
		// not by a custom resource and its Lambda function.
		for _, typ := range []string{"Custom::AWS", "AWS::Lambda::Function", "AWS::CloudFormation::CustomResource"} {
			if n := len(s.resources(env, typ)); n != 0 {
				t.Errorf("%s: %d resources of type %s", env, n, typ)
			}
		}
	}
}

func TestGivenPools_ThenLaunchAndTerminateHooksExist(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		tpl := s.template(env)
		for _, pool := range e.Pools {
			name := e.AutoScalingGroupName(pool)
			tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::LifecycleHook"), map[string]any{
				"LifecycleHookName":   name + "-launch",
				"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
				"DefaultResult":       "ABANDON",
				"HeartbeatTimeout":    pool.BootGraceMinutes * 60,
			})
			// A busy runner outlives a controller outage of this long.
			hold := 15 * 60
			if pool.IsLong() {
				hold = 2 * 60 * 60
			}
			tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::LifecycleHook"), map[string]any{
				"LifecycleHookName":   name + "-terminate",
				"LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
				"DefaultResult":       "CONTINUE",
				"HeartbeatTimeout":    hold,
			})
		}
	}
}

func TestGivenTheStack_ThenTheSecurityGroupHasNoIngress(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		sgs := s.resources(env, "AWS::EC2::SecurityGroup")
		if len(sgs) != 1 {
			t.Fatalf("%s: %d security groups, want 1", env, len(sgs))
		}
		for id, sg := range sgs {
			if in := props(sg)["SecurityGroupIngress"]; in != nil {
				t.Errorf("%s %s: ingress rules %v", env, id, in)
			}
			vpc := committed(t)[env].Vpc
			var want any = vpc.ID
			if vpc.UsesExports() {
				want = map[string]any{"Fn::ImportValue": vpc.VpcIDExport()}
			}
			if jsonString(t, props(sg)["VpcId"]) != jsonString(t, want) {
				t.Errorf("%s %s: VPC %v, want the configured one", env, id, props(sg)["VpcId"])
			}
		}
		if n := len(s.resources(env, "AWS::EC2::SecurityGroupIngress")); n != 0 {
			t.Errorf("%s: %d ingress rules", env, n)
		}
		if n := len(s.resources(env, "AWS::EC2::VPC")); n != 0 {
			t.Errorf("%s: creates a VPC instead of importing it", env)
		}
	}
}

// githubTrusts returns, for each role trusting GitHub's OIDC provider, its conditions.
func githubTrusts(t *testing.T, s *synthesized, env string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources(env, "AWS::IAM::Role") {
		for _, st := range asList(props(r)["AssumeRolePolicyDocument"].(map[string]any)["Statement"]) {
			stm := st.(map[string]any)
			principal, _ := stm["Principal"].(map[string]any)
			if principal["Federated"] == nil {
				continue
			}
			if !strings.Contains(jsonString(t, principal["Federated"]), "token.actions.githubusercontent.com") {
				continue
			}
			cond, _ := stm["Condition"].(map[string]any)
			out[id] = cond
		}
	}
	return out
}

func TestInvariant_EveryGitHubTrustRequiresAudienceAndOneRepository(t *testing.T) {
	s := committedStacks(t)
	all := committed(t)
	for _, env := range envNames {
		e := all[env]
		trusts := githubTrusts(t, s, env)
		if len(trusts) < 1 {
			t.Fatalf("%s: no role trusts GitHub OIDC", env)
		}
		for id, cond := range trusts {
			eq, _ := cond["StringEquals"].(map[string]any)
			if eq == nil || eq["token.actions.githubusercontent.com:aud"] != "sts.amazonaws.com" {
				t.Errorf("%s %s: aud not bound to sts.amazonaws.com: %v", env, id, cond)
			}
			if _, like := cond["StringLike"]; like {
				t.Errorf("%s %s: StringLike in a GitHub trust: %v", env, id, cond)
			}
			subs := asList(eq["token.actions.githubusercontent.com:sub"])
			if len(subs) == 0 {
				t.Errorf("%s %s: no sub condition", env, id)
			}
			for _, sub := range subs {
				str := sub.(string)
				if strings.ContainsAny(str, "*?") {
					t.Errorf("%s %s: wildcard sub %q", env, id, str)
				}
				parts := strings.SplitN(str, ":", 3)
				if len(parts) != 3 || parts[0] != "repo" {
					t.Errorf("%s %s: sub %q is not bound to one repository", env, id, str)
					continue
				}
				repo := parts[1]
				if repo != e.Repository && repo != e.GitHubOidc.ReviewRepository {
					t.Errorf("%s %s: sub %q trusts %s, which is not this environment's repository", env, id, str, repo)
				}
				for other, oe := range all {
					if other != env && strings.EqualFold(repo, oe.Repository) {
						t.Errorf("%s %s: the %s repository can assume this role", env, id, other)
					}
				}
				if env == "prod" && repo == e.Repository && !slices.Contains(config.ProdSubjects, parts[2]) {
					t.Errorf("prod %s: subject %q is not environment:prod or the main branch", id, str)
				}
			}
		}
	}
}

func TestInvariant_NoPolicyGrantsStarOnStar(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
			for id, p := range s.resources(env, typ) {
				for _, st := range asList(props(p)["PolicyDocument"].(map[string]any)["Statement"]) {
					stm := st.(map[string]any)
					if stm["Effect"] != "Allow" {
						continue
					}
					for _, a := range asList(stm["Action"]) {
						if a == "*" || strings.HasSuffix(fmt.Sprint(a), ":*") {
							t.Errorf("%s %s: wildcard action %v", env, id, a)
						}
					}
				}
			}
		}
		for id, r := range s.resources(env, "AWS::IAM::Role") {
			for _, mp := range asList(props(r)["ManagedPolicyArns"]) {
				if strings.Contains(jsonString(t, mp), "AdministratorAccess") || strings.Contains(jsonString(t, mp), "PowerUserAccess") {
					t.Errorf("%s %s: broad managed policy %v", env, id, mp)
				}
			}
		}
	}
}

// policyOf returns the JSON of every inline policy attached to the role whose name is roleName.
func policyOf(t *testing.T, s *synthesized, env, roleName string) string {
	var roleID string
	for id, r := range s.resources(env, "AWS::IAM::Role") {
		if props(r)["RoleName"] == roleName {
			roleID = id
		}
	}
	if roleID == "" {
		t.Fatalf("%s: no role named %s", env, roleName)
	}
	var b strings.Builder
	for _, p := range s.resources(env, "AWS::IAM::Policy") {
		if strings.Contains(jsonString(t, props(p)["Roles"]), `"Ref":"`+roleID+`"`) {
			b.WriteString(jsonString(t, props(p)["PolicyDocument"]))
		}
	}
	return b.String()
}

func TestGivenTheRunnerRole_ThenItIsScopedToItsOwnFleetAndCannotReadTheGitHubCredential(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		runner := policyOf(t, s, env, e.ResourcePrefix()+"-runner")
		if strings.Contains(runner, e.GitHubCredential.SecretName) {
			t.Errorf("%s: runner role can read the GitHub credential", env)
		}
		for _, want := range []string{
			e.AdminToken.SecretName,
			`"aws:ResourceTag/` + settings.TagJitInstanceArn + `":"${ec2:SourceInstanceARN}"`,
			`"sts:AssumeRole","Effect":"Allow","Resource":"` + e.DeploymentRoleArn,
			`"autoscaling:ResourceTag/` + settings.TagEnvironment + `":"` + env + `"`,
			"parameter" + e.JitParameterPrefix() + "*",
			`"aws:TagKeys":["` + settings.TagJobStarted + `","` + settings.TagWarmReady + `"]`,
		} {
			if !strings.Contains(runner, want) {
				t.Errorf("%s: runner policy lacks %s\n%s", env, want, runner)
			}
		}
		// The controller's own records (the watchdog's clock among them) are
		// tags a job on the runner must not be able to write.
		for _, key := range []string{settings.TagJobStartedAt, settings.TagJobCompleted, settings.TagMaxRuntimeWarned} {
			if strings.Contains(runner, `"`+key+`"`) {
				t.Errorf("%s: runner role may write the controller's tag %s", env, key)
			}
		}
		controller := policyOf(t, s, env, e.ResourcePrefix()+"-controller")
		if !strings.Contains(controller, e.GitHubCredential.SecretName) {
			t.Errorf("%s: controller cannot read the GitHub credential", env)
		}
		if strings.Contains(controller, e.AdminToken.SecretName) {
			t.Errorf("%s: controller can read the Synapse admin token", env)
		}
		deploy := policyOf(t, s, env, e.ResourcePrefix()+"-deploy")
		if want := "cdk-" + e.CdkBootstrap.Qualifier + "-*-role-" + e.Account + "-" + e.Region; !strings.Contains(deploy, want) {
			t.Errorf("%s: deploy role may assume more than the CDK bootstrap roles: %s", env, deploy)
		}
		// The diff role: TestGivenThePullRequestRole_ThenItReadsOnlyThisStacksTemplate.
	}
}

func TestGivenTheStack_ThenOutputsFeedTheRepositoryVariables(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		tpl := s.template(env)
		tpl.HasOutput(jsii.String(config.OutputContext), map[string]any{"Value": env})
		tpl.HasOutput(jsii.String(config.OutputSynapseHost), map[string]any{"Value": e.SynapseHost})
		tpl.HasOutput(jsii.String(config.OutputDeploymentRole), map[string]any{"Value": e.DeploymentRoleArn})
		tpl.HasOutput(jsii.String(config.OutputRoleToAssume), map[string]any{"Value": assertions.Match_ObjectLike(&map[string]any{"Fn::GetAtt": assertions.Match_AnyValue()})})
		tpl.HasOutput(jsii.String(config.OutputAdminTokenSecret), map[string]any{"Value": e.AdminToken.SecretName})
		tpl.HasOutput(jsii.String(config.OutputScaleSetPrefix+"Default"), map[string]any{"Value": "synapse-" + env})
		tpl.HasOutput(jsii.String(config.OutputScaleSetPrefix+"Long"), map[string]any{"Value": "synapse-" + env + "-long"})
	}
}

func TestGivenConfiguredTags_ThenEveryTaggableResourceCarriesThem(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		tagged := 0
		for id, r := range s.templates[env]["Resources"].(map[string]any) {
			p := props(r.(map[string]any))
			tags, ok := p["Tags"]
			if !ok {
				continue
			}
			tagged++
			js := jsonString(t, tags)
			for _, k := range config.RequiredTags {
				if !strings.Contains(js, `"`+k+`"`) || !strings.Contains(js, jsonString(t, e.Tags[k])) {
					t.Errorf("%s %s: tag %s missing: %s", env, id, k, js)
				}
			}
		}
		if tagged < 10 {
			t.Errorf("%s: only %d resources carry tags", env, tagged)
		}
	}
}

func TestGivenPlaceholderIds_ThenSynthWarnsAndNamesThem(t *testing.T) {
	s := committedStacks(t)
	for _, env := range envNames {
		e := committed(t)[env]
		warnings := assertions.Annotations_FromStack(s.stacks[env].Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("placeholder")))
		if len(*warnings) != len(e.HasPlaceholders()) {
			t.Errorf("%s: %d placeholder warnings, want %d (%v)", env, len(*warnings), len(e.HasPlaceholders()), e.HasPlaceholders())
		}
		// CDK's own warning would repeat each placeholder without naming it.
		noRouteTable := assertions.Annotations_FromStack(s.stacks[env].Stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("No routeTableId was provided")))
		if len(*noRouteTable) != 0 {
			t.Errorf("%s: %d warnings about missing route table ids", env, len(*noRouteTable))
		}
	}
}
