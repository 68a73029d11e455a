// Package fleetiam names the ARNs the fleet's roles are scoped by, so the
// runner role and the controller role agree on them: the pools' Auto Scaling
// groups (matched by their fixed names), the JIT config parameters, and the
// fleet's instances.
package fleetiam

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GroupArns are the ARNs of the named Auto Scaling groups. A group ARN holds a
// generated id, hence the wildcard before the fixed name.
func GroupArns(scope constructs.Construct, names []string) []*string {
	stack := awscdk.Stack_Of(scope)
	var arns []*string
	for _, name := range names {
		arns = append(arns, stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("autoscaling"),
			Resource:     jsii.String("autoScalingGroup"),
			ResourceName: jsii.String("*:autoScalingGroupName/" + name),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}))
	}
	return arns
}

// JitParameters is the ARN of every JIT config parameter under prefix
// (an SSM path ending in /).
func JitParameters(scope constructs.Construct, prefix string) *string {
	return parameter(scope, strings.TrimPrefix(prefix, "/")+"*")
}

// JitPath is the ARN of the JIT config path itself, which GetParametersByPath names.
func JitPath(scope constructs.Construct, prefix string) *string {
	return parameter(scope, strings.TrimSuffix(strings.TrimPrefix(prefix, "/"), "/"))
}

// Parameter is the ARN of one SSM parameter, named by its path.
func Parameter(scope constructs.Construct, name string) *string {
	return parameter(scope, strings.TrimPrefix(name, "/"))
}

// Instances is the ARN of every instance in the stack's account and region;
// policies narrow it with the fleet's environment tag.
func Instances(scope constructs.Construct) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ec2"),
		Resource:     jsii.String("instance"),
		ResourceName: jsii.String("*"),
	})
}

func parameter(scope constructs.Construct, name string) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ssm"),
		Resource:     jsii.String("parameter"),
		ResourceName: jsii.String(name),
	})
}

// Allow adds an Allow statement to role; conditions may be nil.
func Allow(role awsiam.IRole, sid string, actions []string, resources []*string, conditions map[string]any) {
	st := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}
	if conditions != nil {
		st.Conditions = &conditions
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
}

// ParametersUnder is the ARN of every parameter under prefix (an SSM path
// ending in /), for per-instance parameters other than the JIT configs.
func ParametersUnder(scope constructs.Construct, prefix string) *string {
	return JitParameters(scope, prefix)
}

// PathOf is the ARN of the path prefix itself, which GetParametersByPath names.
func PathOf(scope constructs.Construct, prefix string) *string {
	return JitPath(scope, prefix)
}
