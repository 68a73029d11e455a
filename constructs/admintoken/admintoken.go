// Package admintoken provides the Synapse admin token secret that ops jobs read
// at run time. By default the secret already exists and is imported by name; when
// asked, the construct creates it with a customer-managed KMS key. Either way a
// resource policy lets only the readers given (this environment's runner role)
// and the break-glass administrators read the value. The value is never in the
// template: the bootstrap command sets it.
package admintoken

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/constructs/secretpolicy"
)

// Props configures AdminToken.
type Props struct {
	// SecretName is the Secrets Manager name of the token.
	SecretName string
	// Create makes the construct create the secret instead of importing it.
	//
	// Default: false
	Create bool
	// AdminPrincipalArns may read the token besides Readers (break-glass administrators).
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
	// Policy is the resource policy that denies every other reader.
	Policy awssecretsmanager.CfnResourcePolicy
}

// New imports or creates the admin token secret and restricts its readers.
func New(scope constructs.Construct, id string, props Props) *AdminToken {
	this := constructs.NewConstruct(scope, jsii.String(id))
	t := &AdminToken{Construct: this}
	// The name identifies an imported secret for the policy; the full ARN
	// (with its random suffix) is only known for a created one.
	secretID := jsii.String(props.SecretName)
	if props.Create {
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
		for _, arn := range props.AdminPrincipalArns {
			key.GrantDecrypt(awsiam.NewArnPrincipal(jsii.String(arn)))
		}
		t.Secret, t.Key = secret, key
		secretID = secret.SecretArn()
	} else {
		t.Secret = awssecretsmanager.Secret_FromSecretNameV2(this, jsii.String("Imported"), jsii.String(props.SecretName))
	}

	var readers []*string
	for _, r := range props.Readers {
		t.Secret.GrantRead(r, nil)
		readers = append(readers, r.RoleArn())
	}
	for _, arn := range props.AdminPrincipalArns {
		readers = append(readers, jsii.String(arn))
	}
	t.Policy = secretpolicy.OnlyReaders(this, "OnlyRunnersAndAdminsRead", secretpolicy.Props{
		SecretID: secretID,
		Readers:  readers,
		Sid:      "OnlyRunnersAndAdminsReadTheToken",
	})
	return t
}
