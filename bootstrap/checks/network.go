package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const (
	checkVpc     = "vpc"
	checkSubnets = "private subnets"
)

// RunnerEndpoints are the services a runner and the controller reach. A subnet
// without a NAT route needs a VPC endpoint for each (s3 may be a gateway endpoint).
var RunnerEndpoints = []string{"ssm", "ssmmessages", "ec2messages", "secretsmanager", "logs", "sts", "autoscaling", "s3"}

// subnetView is what the checks need to know about one subnet.
type subnetView struct {
	ID, AZ, VpcID, Name, RouteTable string
	MapPublicIP                     bool
	// IGW is the internet gateway a route sends traffic to, empty if none.
	IGW string
	// WayOut describes the subnet's path to AWS and GitHub, empty if none.
	WayOut string
	// MissingEndpoints lists RunnerEndpoints the subnet cannot reach privately.
	MissingEndpoints []string
}

func (s subnetView) private() bool { return !s.MapPublicIP && s.IGW == "" }

func nameTag(tags []ec2types.Tag) string {
	for _, t := range tags {
		if deref(t.Key) == "Name" {
			return deref(t.Value)
		}
	}
	return ""
}

// routeTableFor returns the subnet's explicitly associated table, or the VPC's main table.
func routeTableFor(subnetID string, tables []ec2types.RouteTable) *ec2types.RouteTable {
	var main *ec2types.RouteTable
	for i := range tables {
		for _, a := range tables[i].Associations {
			if deref(a.SubnetId) == subnetID {
				return &tables[i]
			}
			if a.Main != nil && *a.Main {
				main = &tables[i]
			}
		}
	}
	return main
}

// analyze works out whether a subnet is private and how its traffic leaves.
func analyze(sn ec2types.Subnet, tables []ec2types.RouteTable, endpoints []ec2types.VpcEndpoint, region string) subnetView {
	v := subnetView{ID: deref(sn.SubnetId), AZ: deref(sn.AvailabilityZone), VpcID: deref(sn.VpcId), Name: nameTag(sn.Tags),
		MapPublicIP: sn.MapPublicIpOnLaunch != nil && *sn.MapPublicIpOnLaunch}
	rt := routeTableFor(v.ID, tables)
	if rt != nil {
		v.RouteTable = deref(rt.RouteTableId)
		for _, route := range rt.Routes {
			if strings.HasPrefix(deref(route.GatewayId), "igw-") {
				v.IGW = deref(route.GatewayId)
			}
			if deref(route.DestinationCidrBlock) != "0.0.0.0/0" || route.State != ec2types.RouteStateActive {
				continue
			}
			switch {
			case route.NatGatewayId != nil:
				v.WayOut = "NAT gateway " + *route.NatGatewayId
			case route.TransitGatewayId != nil && v.WayOut == "":
				v.WayOut = "default route to transit gateway " + *route.TransitGatewayId
			case route.NetworkInterfaceId != nil && v.WayOut == "":
				v.WayOut = "default route to network interface " + *route.NetworkInterfaceId
			}
		}
	}
	prefix := "com.amazonaws." + region + "."
	for _, svc := range RunnerEndpoints {
		if !hasEndpoint(prefix+svc, v.RouteTable, endpoints) {
			v.MissingEndpoints = append(v.MissingEndpoints, svc)
		}
	}
	if v.WayOut == "" && len(v.MissingEndpoints) == 0 {
		v.WayOut = "VPC endpoints for " + strings.Join(RunnerEndpoints, ", ")
	}
	return v
}

// hasEndpoint: an available interface endpoint with private DNS (so the SDK's
// default hostnames resolve to it), or a gateway endpoint on the subnet's table.
func hasEndpoint(service, routeTable string, endpoints []ec2types.VpcEndpoint) bool {
	for _, e := range endpoints {
		if deref(e.ServiceName) != service || !strings.EqualFold(string(e.State), "available") {
			continue
		}
		if e.VpcEndpointType == ec2types.VpcEndpointTypeGateway {
			if slices.Contains(e.RouteTableIds, routeTable) {
				return true
			}
			continue
		}
		if e.PrivateDnsEnabled != nil && *e.PrivateDnsEnabled {
			return true
		}
	}
	return false
}

func (r *runner) network(ctx context.Context) {
	env := r.in.Env
	api := r.in.AWS.EC2
	file := fmt.Sprintf("environments/%s.json", env.Name)
	if strings.EqualFold(env.Vpc.ID, config.PlaceholderSubnetID) {
		out, err := api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil {
			r.add(errorRow(checkVpc, "ec2:DescribeVpcs", err))
		} else {
			var list []string
			for _, v := range out.Vpcs {
				list = append(list, fmt.Sprintf("%s (%s, %s)", deref(v.VpcId), nameTag(v.Tags), deref(v.CidrBlock)))
			}
			r.add(Row{Check: checkVpc, State: Missing,
				Detail: "vpc.id is a placeholder; VPCs in this account: " + orNone(list),
				Fix:    fmt.Sprintf("set vpc.id in %s to the VPC the runners run in, then run plan again to list its private subnets", file)})
		}
		r.add(Row{Check: checkSubnets, State: Missing, Detail: "not checked until vpc.id is set", Fix: "set vpc.id first"})
		return
	}

	vpcID := env.Vpc.ID
	out, err := api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	switch {
	case err != nil && Classify(err) == KindNotFound, err == nil && len(out.Vpcs) == 0:
		r.add(Row{Check: checkVpc, State: Missing, Detail: fmt.Sprintf("no VPC %s in %s/%s", vpcID, env.Account, env.Region),
			Fix: fmt.Sprintf("set vpc.id in %s to an existing VPC (aws ec2 describe-vpcs)", file)})
		r.add(Row{Check: checkSubnets, State: Missing, Detail: "not checked: the VPC does not exist", Fix: "fix vpc.id first"})
		return
	case err != nil:
		r.add(errorRow(checkVpc, "ec2:DescribeVpcs", err))
		r.add(Row{Check: checkSubnets, State: Error, Detail: "not checked: the VPC could not be read", Fix: "fix the vpc row first"})
		return
	}
	vpc := out.Vpcs[0]
	r.add(Row{Check: checkVpc, State: OK, Detail: fmt.Sprintf("%s (%s, %s)", vpcID, nameTag(vpc.Tags), deref(vpc.CidrBlock))})

	filter := []ec2types.Filter{{Name: new("vpc-id"), Values: []string{vpcID}}}
	var subnets []ec2types.Subnet
	for p := ec2.NewDescribeSubnetsPaginator(api, &ec2.DescribeSubnetsInput{Filters: filter}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.add(errorRow(checkSubnets, "ec2:DescribeSubnets", err))
			return
		}
		subnets = append(subnets, page.Subnets...)
	}
	var tables []ec2types.RouteTable
	for p := ec2.NewDescribeRouteTablesPaginator(api, &ec2.DescribeRouteTablesInput{Filters: filter}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.add(errorRow(checkSubnets, "ec2:DescribeRouteTables", err))
			return
		}
		tables = append(tables, page.RouteTables...)
	}
	var endpoints []ec2types.VpcEndpoint
	for p := ec2.NewDescribeVpcEndpointsPaginator(api, &ec2.DescribeVpcEndpointsInput{Filters: filter}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			r.add(errorRow(checkSubnets, "ec2:DescribeVpcEndpoints", err))
			return
		}
		endpoints = append(endpoints, page.VpcEndpoints...)
	}
	views := map[string]subnetView{}
	var private []string
	for _, sn := range subnets {
		v := analyze(sn, tables, endpoints, env.Region)
		views[v.ID] = v
		if v.private() {
			way := v.WayOut
			if way == "" {
				way = "no way out"
			}
			private = append(private, fmt.Sprintf("%s (%s, %q, %s, %s)", v.ID, v.AZ, v.Name, v.RouteTable, way))
		}
	}
	slices.Sort(private)

	if ph := env.HasPlaceholders(); len(ph) > 0 {
		r.add(Row{Check: checkSubnets, State: Missing,
			Detail: fmt.Sprintf("%s are placeholders; private subnets of %s: %s", strings.Join(ph, ", "), vpcID, orNone(private)),
			Fix:    fmt.Sprintf("set each placeholder id in %s to a private subnet of its zone (%s), preferring ones with a way out", file, strings.Join(env.Vpc.AvailabilityZones, ", "))})
	}
	for i, s := range env.Vpc.PrivateSubnets {
		if strings.EqualFold(s.ID, config.PlaceholderSubnetID) {
			continue
		}
		r.add(r.checkSubnet(ctx, i, s, views))
	}
}

func (r *runner) checkSubnet(ctx context.Context, i int, s config.Subnet, views map[string]subnetView) Row {
	env := r.in.Env
	name := "subnet " + s.ID
	field := fmt.Sprintf("vpc.privateSubnets[%d]", i)
	v, ok := views[s.ID]
	if !ok {
		out, err := r.in.AWS.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.ID}})
		switch {
		case err != nil && Classify(err) == KindNotFound, err == nil && len(out.Subnets) == 0:
			return Row{Check: name, State: Missing, Detail: fmt.Sprintf("no subnet %s in %s", s.ID, env.Region),
				Fix: fmt.Sprintf("set %s.id to a private subnet of %s", field, env.Vpc.ID)}
		case err != nil:
			return errorRow(name, "ec2:DescribeSubnets", err)
		}
		return Row{Check: name, State: Wrong, Detail: fmt.Sprintf("%s is in %s, not in the configured VPC %s", s.ID, deref(out.Subnets[0].VpcId), env.Vpc.ID),
			Fix: fmt.Sprintf("set %s.id to a private subnet of %s", field, env.Vpc.ID)}
	}
	var problems, fixes []string
	if v.AZ != s.AvailabilityZone {
		problems = append(problems, fmt.Sprintf("is in %s, config says %s", v.AZ, s.AvailabilityZone))
		fixes = append(fixes, fmt.Sprintf("set %s.availabilityZone to %s", field, v.AZ))
	}
	if s.RouteTableID != "" && s.RouteTableID != v.RouteTable {
		problems = append(problems, fmt.Sprintf("uses route table %s, config says %s", v.RouteTable, s.RouteTableID))
		fixes = append(fixes, fmt.Sprintf("set %s.routeTableId to %s", field, v.RouteTable))
	}
	if v.MapPublicIP {
		problems = append(problems, "gives instances a public IP on launch")
	}
	if v.IGW != "" {
		problems = append(problems, fmt.Sprintf("route table %s routes to internet gateway %s (a public subnet)", v.RouteTable, v.IGW))
	}
	if !v.private() {
		fixes = append(fixes, fmt.Sprintf("use a private subnet for %s (runners must have no public address)", field))
	}
	if v.WayOut == "" {
		problems = append(problems, "has no way out: no NAT gateway route and no VPC endpoint for "+strings.Join(v.MissingEndpoints, ", "))
		fixes = append(fixes, fmt.Sprintf("add a 0.0.0.0/0 route to a NAT gateway in %s, or create those VPC endpoints (interface endpoints with private DNS; s3 as a gateway endpoint on %s)", v.RouteTable, v.RouteTable))
	}
	if len(problems) > 0 {
		return Row{Check: name, State: Wrong, Detail: s.ID + " " + strings.Join(problems, "; "), Fix: strings.Join(fixes, "; ")}
	}
	return Row{Check: name, State: OK, Detail: fmt.Sprintf("%s, private, route table %s, way out: %s", v.AZ, v.RouteTable, v.WayOut)}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none found"
	}
	return strings.Join(list, "; ")
}
