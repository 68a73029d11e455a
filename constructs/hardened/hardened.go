// Package hardened holds the one launch template every instance of the fleet
// (runners and controller) starts from, so the hardening the security rules
// require is written once: IMDSv2 only with hop limit 1, no public IP, an
// encrypted gp3 root volume deleted on termination, shutdown = terminate, no key
// pair, and the fleet's ingress-free security group.
package hardened

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures LaunchTemplate.
type Props struct {
	// MachineImage is the image, resolved at deploy time.
	MachineImage awsec2.IMachineImage
	// UserData is the boot script; it must hold no secret.
	UserData awsec2.UserData
	// Role is the instance role.
	Role awsiam.IRole
	// SecurityGroup is the fleet's security group (no ingress).
	SecurityGroup awsec2.ISecurityGroup
	// VolumeSizeGiB is the root volume size.
	VolumeSizeGiB int
	// InstanceType is set for single-type groups.
	//
	// Default: none (a mixed instances policy names the types)
	InstanceType string
}

// NewLaunchTemplate creates the hardened launch template.
func NewLaunchTemplate(scope constructs.Construct, id string, props Props) awsec2.LaunchTemplate {
	lt := &awsec2.LaunchTemplateProps{
		MachineImage:                      props.MachineImage,
		UserData:                          props.UserData,
		Role:                              props.Role,
		SecurityGroup:                     props.SecurityGroup,
		RequireImdsv2:                     jsii.Bool(true),
		HttpTokens:                        awsec2.LaunchTemplateHttpTokens_REQUIRED,
		HttpPutResponseHopLimit:           jsii.Number(1),
		AssociatePublicIpAddress:          jsii.Bool(false),
		InstanceInitiatedShutdownBehavior: awsec2.InstanceInitiatedShutdownBehavior_TERMINATE,
		DetailedMonitoring:                jsii.Bool(true),
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/xvda"),
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(float64(props.VolumeSizeGiB)), &awsec2.EbsDeviceOptions{
				VolumeType:          awsec2.EbsDeviceVolumeType_GP3,
				Encrypted:           jsii.Bool(true),
				DeleteOnTermination: jsii.Bool(true),
			}),
		}},
	}
	if props.InstanceType != "" {
		lt.InstanceType = awsec2.NewInstanceType(jsii.String(props.InstanceType))
	}
	return awsec2.NewLaunchTemplate(scope, jsii.String(id), lt)
}
