// Package network imports the environment's existing VPC and creates the fleet's
// security group. Nothing is looked up at synth: the VPC and its private subnets
// are imported by the ids the committed config holds, or by Fn::ImportValue of
// the exports of the stack that built the VPC.
package network

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
)

// Props configures Network.
type Props struct {
	// Vpc is the existing VPC and its private subnets, from config: by ids, or
	// by the exports of the stack that built it (imported at deploy time).
	Vpc config.Vpc
	// Placeholders are the config paths still holding "TODO".
	//
	// Default: none
	Placeholders []string
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

	v := props.Vpc
	var zones, subnetIDs, routeTables []*string
	vpcID := jsii.String(v.ID)
	if v.UsesExports() {
		// Resolved by CloudFormation at deploy time: synth stays offline and
		// the template names the exports, never the ids.
		vpcID = awscdk.Fn_ImportValue(jsii.String(v.VpcIDExport()))
	}
	var routeTable *string
	if name := v.RouteTableExportName(); name != "" {
		routeTable = awscdk.Fn_ImportValue(jsii.String(name))
	}
	for _, s := range v.PrivateSubnets {
		zones = append(zones, jsii.String(s.AvailabilityZone))
		if v.UsesExports() {
			subnetIDs = append(subnetIDs, awscdk.Fn_ImportValue(jsii.String(v.SubnetExport(s))))
			routeTables = append(routeTables, routeTable)
		} else {
			subnetIDs = append(subnetIDs, jsii.String(s.ID))
			routeTables = append(routeTables, jsii.String(s.RouteTableID))
		}
	}
	attrs := &awsec2.VpcAttributes{
		VpcId:             vpcID,
		AvailabilityZones: &zones,
		PrivateSubnetIds:  &subnetIDs,
	}
	if routeTable != nil || (!v.UsesExports() && allSet(v.PrivateSubnets)) {
		attrs.PrivateSubnetRouteTableIds = &routeTables
	}
	vpc := awsec2.Vpc_FromVpcAttributes(this, jsii.String("Vpc"), attrs)
	// A placeholder subnet has no route table to name yet; CDK's warning about
	// it would only repeat the placeholder warning the stack already prints.
	if len(props.Placeholders) > 0 {
		awscdk.Annotations_Of(vpc).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
			jsii.String("placeholder subnets: the stack warns about each placeholder"))
	}

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
