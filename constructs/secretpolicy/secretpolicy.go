// Package secretpolicy attaches the resource policy that makes a Secrets
// Manager secret readable only by the principals named, whatever their or
// anyone else's identity policies say: an explicit Deny of GetSecretValue to
// every other principal. It works for secrets the stack creates and for
// existing secrets it imports by name.
package secretpolicy

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures OnlyReaders.
type Props struct {
	// SecretID is the secret's ARN or name.
	SecretID *string
	// Readers are the ARNs of the roles or users that may read the value.
	Readers []*string
	// Sid names the deny statement.
	//
	// Default: OnlyNamedPrincipalsReadTheValue
	Sid string
}

// OnlyReaders attaches the policy and returns it.
func OnlyReaders(scope constructs.Construct, id string, props Props) awssecretsmanager.CfnResourcePolicy {
	sid := props.Sid
	if sid == "" {
		sid = "OnlyNamedPrincipalsReadTheValue"
	}
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringNotEquals": map[string]any{"aws:PrincipalArn": props.Readers},
			},
		})},
	})
	return awssecretsmanager.NewCfnResourcePolicy(scope, jsii.String(id), &awssecretsmanager.CfnResourcePolicyProps{
		SecretId:       props.SecretID,
		ResourcePolicy: doc,
		// A public or cross-account grant elsewhere in the policy is refused.
		BlockPublicPolicy: jsii.Bool(true),
	})
}
