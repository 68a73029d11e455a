// Package githuboidc wires GitHub Actions' OIDC tokens to IAM roles: the deploy
// role an ops repository assumes (ROLE_TO_ASSUME) and, optionally, a diff role
// that pull requests use to read this stack's deployed template. Every trust
// policy requires aud = sts.amazonaws.com and a sub bound to exactly one
// repository.
//
// The diff role trusts the pull_request subject, and a pull request runs its
// own copy of the workflow: whoever can open one (from a branch of the review
// repository) holds the role's permissions. So the role may read this stack's
// template and description and nothing else: no CDK lookup role (which carries
// ReadOnlyAccess: S3 objects, DynamoDB items, CloudWatch Logs with job logs).
package githuboidc

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Issuer is GitHub Actions' OIDC issuer host.
const Issuer = "token.actions.githubusercontent.com"

// Audience is the audience aws-actions/configure-aws-credentials requests.
const Audience = "sts.amazonaws.com"

// Props configures GitHubOidc.
type Props struct {
	// ProviderArn imports the account's existing provider. Ignored when CreateProvider is set.
	ProviderArn string
	// CreateProvider creates the provider (brand-new accounts only).
	//
	// Default: false
	CreateProvider bool
	// Repository is the ops repository ("owner/name") allowed to assume the deploy role.
	Repository string
	// Subjects are the sub claim suffixes (after "repo:<Repository>:"), e.g. "ref:refs/heads/main".
	Subjects []string
	// DeployRoleName is the deploy role's fixed name.
	DeployRoleName string
	// CdkQualifier is the CDK bootstrap qualifier whose roles the deploy role may assume.
	CdkQualifier string
	// ReviewRepository, when set, gets a diff role for its pull requests that can
	// read this stack's template and description only.
	//
	// Default: no diff role
	ReviewRepository string
	// DiffRoleName is the diff role's fixed name.
	DiffRoleName string
}

// GitHubOidc holds the provider and the roles GitHub workflows assume.
type GitHubOidc struct {
	constructs.Construct
	// Provider is the imported or created OIDC provider.
	Provider awsiam.IOidcProvider
	// DeployRole is what the ops repository's deploy workflow assumes.
	DeployRole awsiam.Role
	// DiffRole is what pull requests assume to read the deployed template; nil when not configured.
	DiffRole awsiam.Role
}

// New creates the roles (and the provider when asked).
func New(scope constructs.Construct, id string, props Props) *GitHubOidc {
	this := constructs.NewConstruct(scope, jsii.String(id))
	g := &GitHubOidc{Construct: this}
	if props.CreateProvider {
		g.Provider = awsiam.NewOidcProviderNative(this, jsii.String("Provider"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String("https://" + Issuer),
			ClientIds: jsii.Strings(Audience),
		})
	} else {
		g.Provider = awsiam.OidcProviderNative_FromOidcProviderArn(this, jsii.String("Provider"), jsii.String(props.ProviderArn))
	}

	var subjects []string
	for _, s := range props.Subjects {
		subjects = append(subjects, Subject(props.Repository, s))
	}
	g.DeployRole = awsiam.NewRole(this, jsii.String("DeployRole"), &awsiam.RoleProps{
		RoleName:           jsii.String(props.DeployRoleName),
		Description:        jsii.String("ROLE_TO_ASSUME: " + props.Repository + " deploys this app with cdk deploy"),
		AssumedBy:          g.principal(subjects),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	// cdk deploy only needs the bootstrap roles; they hold the real permissions.
	g.DeployRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AssumeCdkBootstrapRoles"),
		Actions:   jsii.Strings("sts:AssumeRole", "sts:TagSession"),
		Resources: &[]*string{bootstrapRoleArn(this, props.CdkQualifier, "*")},
	}))

	if props.ReviewRepository != "" {
		g.DiffRole = awsiam.NewRole(this, jsii.String("DiffRole"), &awsiam.RoleProps{
			RoleName:           jsii.String(props.DiffRoleName),
			Description:        jsii.String("Pull requests of " + props.ReviewRepository + " run cdk diff (read only)"),
			AssumedBy:          g.principal([]string{Subject(props.ReviewRepository, "pull_request")}),
			MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
		})
		// Exactly what reading the deployed template for a diff takes, on this
		// stack only. The stack id after the name is generated, hence the /*.
		g.DiffRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadThisStackTemplateOnly"),
			Actions:   jsii.Strings(DiffRoleActions...),
			Resources: &[]*string{stackArn(this)},
		}))
	}
	return g
}

// DiffRoleActions are everything the diff role may do, on this stack's ARN only.
var DiffRoleActions = []string{
	"cloudformation:DescribeStacks",
	"cloudformation:GetTemplate",
	"cloudformation:GetTemplateSummary",
	"cloudformation:ListStackResources",
}

// Subject is the full sub claim for one repository and suffix.
func Subject(repository, suffix string) string {
	return fmt.Sprintf("repo:%s:%s", repository, suffix)
}

func (g *GitHubOidc) principal(subjects []string) awsiam.IPrincipal {
	return awsiam.NewWebIdentityPrincipal(g.Provider.OidcProviderArn(), &map[string]any{
		"StringEquals": map[string]any{
			Issuer + ":aud": Audience,
			Issuer + ":sub": subjects,
		},
	})
}

// bootstrapRoleArn names a CDK bootstrap role: cdk-<qualifier>-<kind>-role-<account>-<region>.
func bootstrapRoleArn(scope constructs.Construct, qualifier, kind string) *string {
	stack := awscdk.Stack_Of(scope)
	name := strings.Join([]string{"cdk", qualifier, kind, "role", *stack.Account(), *stack.Region()}, "-")
	return jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/%s", *stack.Partition(), *stack.Account(), name))
}

// stackArn is the ARN of the stack the construct is in, for every stack id it
// will ever have: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/*.
func stackArn(scope constructs.Construct) *string {
	stack := awscdk.Stack_Of(scope)
	return jsii.String(fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/*", *stack.Partition(), *stack.Region(), *stack.Account(), *stack.StackName()))
}
