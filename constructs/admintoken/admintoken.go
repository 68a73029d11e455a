// Package admintoken provides the Synapse admin token secret that ops jobs read
// at run time. By default the secret already exists and is imported by name; when
// asked, the construct creates it with a customer-managed KMS key and a resource
// policy. Its value is never in the template: the bootstrap command sets it.
package admintoken

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures AdminToken.
type Props struct {
	// SecretName is the Secrets Manager name of the token.
	SecretName string
	// Create makes the construct create the secret instead of importing it.
	//
	// Default: false
	Create bool
	// AdminPrincipalArns may read a created secret besides Readers
	// (break-glass administrators).
	//
	// Default: none
	AdminPrincipalArns []string
	// Readers are the roles that read the token: this environment's runner role.
	Readers []awsiam.IRole
}

// AdminToken is the admin token secret.
type AdminToken struct {
	constructs.Construct
	// Secret is the imported or created secret.
	Secret awssecretsmanager.ISecret
	// Key is the customer-managed key of a created secret; nil when imported.
	Key awskms.IKey

	created *awssecretsmanager.Secret
	props   Props
}

// New imports or creates the admin token secret.
func New(scope constructs.Construct, id string, props Props) *AdminToken {
	this := constructs.NewConstruct(scope, jsii.String(id))
	t := &AdminToken{Construct: this, props: props}
	if !props.Create {
		t.Secret = awssecretsmanager.Secret_FromSecretNameV2(this, jsii.String("Imported"), jsii.String(props.SecretName))
		for _, r := range props.Readers {
			t.Secret.GrantRead(r, nil)
		}
		return t
	}
	key := awskms.NewKey(this, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the Synapse admin token " + props.SecretName),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	secret := awssecretsmanager.NewSecret(this, jsii.String("Secret"), &awssecretsmanager.SecretProps{
		SecretName:    jsii.String(props.SecretName),
		Description:   jsii.String("Synapse admin personal access token, read by ops jobs on the runners. Set by the bootstrap command."),
		EncryptionKey: key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// CDK would generate a random value; without GenerateSecretString and
	// SecretString CloudFormation creates an empty secret that the bootstrap fills.
	secret.Node().DefaultChild().(awssecretsmanager.CfnSecret).AddPropertyDeletionOverride(jsii.String("GenerateSecretString"))
	t.Secret = secret
	t.Key = key
	t.created = &secret
	for _, r := range props.Readers {
		secret.GrantRead(r, nil)
	}
	t.restrictReaders()
	return t
}

func (t *AdminToken) restrictReaders() {
	secret := *t.created
	allowed := []*string{}
	for _, r := range t.props.Readers {
		allowed = append(allowed, r.RoleArn())
	}
	for _, a := range t.props.AdminPrincipalArns {
		allowed = append(allowed, jsii.String(a))
	}
	// An explicit deny beats any identity policy elsewhere in the account.
	secret.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyRunnersAndAdminsReadTheToken"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringNotEquals": map[string]any{"aws:PrincipalArn": allowed},
		},
	}))
	for i, arn := range t.props.AdminPrincipalArns {
		principal := awsiam.NewArnPrincipal(jsii.String(arn))
		secret.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(fmt.Sprintf("BreakGlassAdminRead%d", i)),
			Principals: &[]awsiam.IPrincipal{principal},
			Actions:    jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
			Resources:  jsii.Strings("*"),
		}))
		t.Key.GrantDecrypt(principal)
	}
}
