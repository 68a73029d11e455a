// Package network imports the environment's existing VPC and creates the fleet's
// security group. Nothing is looked up at synth: the VPC and its private subnets
// are imported by the attributes the committed config holds.
package network

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// Props configures Network.
type Props struct {
	// Vpc is the existing VPC and its private subnets, from config.
	Vpc config.Vpc
	// Description is the security group's description.
	//
	// Default: "Ephemeral GitHub Actions runners: outbound only, no ingress"
	Description string
}

// Network is the imported VPC and the fleet's security group.
type Network struct {
	constructs.Construct
	// Vpc is the imported VPC.
	Vpc awsec2.IVpc
	// PrivateSubnets selects the configured private subnets.
	PrivateSubnets *awsec2.SubnetSelection
	// SecurityGroup has no ingress rules; egress is open so runners reach GitHub,
	// AWS APIs and the Synapse endpoints.
	SecurityGroup awsec2.SecurityGroup
}

// New imports the VPC and creates the security group.
func New(scope constructs.Construct, id string, props Props) *Network {
	this := constructs.NewConstruct(scope, jsii.String(id))
	description := props.Description
	if description == "" {
		description = "Ephemeral GitHub Actions runners: outbound only, no ingress"
	}

	var zones, subnetIDs, routeTables []*string
	for _, s := range props.Vpc.PrivateSubnets {
		zones = append(zones, jsii.String(s.AvailabilityZone))
		subnetIDs = append(subnetIDs, jsii.String(s.ID))
		routeTables = append(routeTables, jsii.String(s.RouteTableID))
	}
	attrs := &awsec2.VpcAttributes{
		VpcId:             jsii.String(props.Vpc.ID),
		AvailabilityZones: &zones,
		PrivateSubnetIds:  &subnetIDs,
	}
	if allSet(props.Vpc.PrivateSubnets) {
		attrs.PrivateSubnetRouteTableIds = &routeTables
	}
	vpc := awsec2.Vpc_FromVpcAttributes(this, jsii.String("Vpc"), attrs)

	sg := awsec2.NewSecurityGroup(this, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String(description),
		AllowAllOutbound: jsii.Bool(true),
	})

	return &Network{
		Construct:      this,
		Vpc:            vpc,
		PrivateSubnets: &awsec2.SubnetSelection{Subnets: vpc.PrivateSubnets()},
		SecurityGroup:  sg,
	}
}

func allSet(subnets []config.Subnet) bool {
	for _, s := range subnets {
		if s.RouteTableID == "" {
			return false
		}
	}
	return len(subnets) > 0
}
