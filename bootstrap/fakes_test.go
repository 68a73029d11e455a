package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/Sage-Bionetworks/synapse-ops-runners/bootstrap/checks"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// errSwitch makes any fake call fail: keyed by operation name.
type errSwitch struct {
	mu   sync.Mutex
	errs map[string]error
	// writes counts mutating calls, to prove a second apply changes nothing.
	writes []string
}

func (e *errSwitch) fail(op string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs[op]
}

func (e *errSwitch) wrote(op string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes = append(e.writes, op)
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

var (
	errDenied    = apiErr("AccessDeniedException", "User: arn:aws:sts::111111111111:assumed-role/test is not authorized")
	errThrottled = apiErr("ThrottlingException", "Rate exceeded")
)

type fakeSTS struct {
	*errSwitch
	account string
}

func (f *fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if err := f.fail("GetCallerIdentity"); err != nil {
		return nil, err
	}
	return &sts.GetCallerIdentityOutput{Account: new(f.account), Arn: new("arn:aws:sts::" + f.account + ":assumed-role/test/me")}, nil
}

type fakeSSM struct {
	*errSwitch
	params map[string]string
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if err := f.fail("GetParameter"); err != nil {
		return nil, err
	}
	v, ok := f.params[*in.Name]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: new("not found")}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: new(v)}}, nil
}

type fakeCFN struct {
	*errSwitch
	stacks map[string]cfntypes.Stack
}

func (f *fakeCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if err := f.fail("DescribeStacks"); err != nil {
		return nil, err
	}
	s, ok := f.stacks[*in.StackName]
	if !ok {
		return nil, apiErr("ValidationError", fmt.Sprintf("Stack with id %s does not exist", *in.StackName))
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{s}}, nil
}

type fakeIAM struct {
	*errSwitch
	providers map[string][]string // arn -> audiences
	account   string
}

func (f *fakeIAM) GetOpenIDConnectProvider(_ context.Context, in *iam.GetOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error) {
	if err := f.fail("GetOpenIDConnectProvider"); err != nil {
		return nil, err
	}
	aud, ok := f.providers[*in.OpenIDConnectProviderArn]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: new("no such provider")}
	}
	return &iam.GetOpenIDConnectProviderOutput{ClientIDList: slices.Clone(aud), Url: new("token.actions.githubusercontent.com")}, nil
}

func (f *fakeIAM) CreateOpenIDConnectProvider(_ context.Context, in *iam.CreateOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error) {
	if err := f.fail("CreateOpenIDConnectProvider"); err != nil {
		return nil, err
	}
	f.wrote("CreateOpenIDConnectProvider")
	arn := "arn:aws:iam::" + f.account + ":oidc-provider/" + strings.TrimPrefix(*in.Url, "https://")
	f.providers[arn] = slices.Clone(in.ClientIDList)
	return &iam.CreateOpenIDConnectProviderOutput{OpenIDConnectProviderArn: &arn}, nil
}

func (f *fakeIAM) AddClientIDToOpenIDConnectProvider(_ context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, _ ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error) {
	if err := f.fail("AddClientIDToOpenIDConnectProvider"); err != nil {
		return nil, err
	}
	f.wrote("AddClientIDToOpenIDConnectProvider")
	f.providers[*in.OpenIDConnectProviderArn] = append(f.providers[*in.OpenIDConnectProviderArn], *in.ClientID)
	return &iam.AddClientIDToOpenIDConnectProviderOutput{}, nil
}

type fakeEC2 struct {
	*errSwitch
	vpcs      []ec2types.Vpc
	subnets   []ec2types.Subnet
	tables    []ec2types.RouteTable
	endpoints []ec2types.VpcEndpoint
}

func vpcFilter(filters []ec2types.Filter) string {
	for _, f := range filters {
		if *f.Name == "vpc-id" {
			return f.Values[0]
		}
	}
	return ""
}

func (f *fakeEC2) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	if err := f.fail("DescribeVpcs"); err != nil {
		return nil, err
	}
	if len(in.VpcIds) == 0 {
		return &ec2.DescribeVpcsOutput{Vpcs: f.vpcs}, nil
	}
	for _, v := range f.vpcs {
		if *v.VpcId == in.VpcIds[0] {
			return &ec2.DescribeVpcsOutput{Vpcs: []ec2types.Vpc{v}}, nil
		}
	}
	return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '"+in.VpcIds[0]+"' does not exist")
}

func (f *fakeEC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	if err := f.fail("DescribeSubnets"); err != nil {
		return nil, err
	}
	var out []ec2types.Subnet
	for _, s := range f.subnets {
		if (len(in.SubnetIds) > 0 && slices.Contains(in.SubnetIds, *s.SubnetId)) || (len(in.SubnetIds) == 0 && *s.VpcId == vpcFilter(in.Filters)) {
			out = append(out, s)
		}
	}
	if len(in.SubnetIds) > 0 && len(out) == 0 {
		return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID does not exist")
	}
	return &ec2.DescribeSubnetsOutput{Subnets: out}, nil
}

func (f *fakeEC2) DescribeRouteTables(_ context.Context, in *ec2.DescribeRouteTablesInput, _ ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error) {
	if err := f.fail("DescribeRouteTables"); err != nil {
		return nil, err
	}
	var out []ec2types.RouteTable
	for _, t := range f.tables {
		if *t.VpcId == vpcFilter(in.Filters) {
			out = append(out, t)
		}
	}
	return &ec2.DescribeRouteTablesOutput{RouteTables: out}, nil
}

func (f *fakeEC2) DescribeVpcEndpoints(_ context.Context, in *ec2.DescribeVpcEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	if err := f.fail("DescribeVpcEndpoints"); err != nil {
		return nil, err
	}
	var out []ec2types.VpcEndpoint
	for _, e := range f.endpoints {
		if *e.VpcId == vpcFilter(in.Filters) {
			out = append(out, e)
		}
	}
	return &ec2.DescribeVpcEndpointsOutput{VpcEndpoints: out}, nil
}

type fakeSecret struct {
	value   *string // nil: no current version
	deleted bool
	// policy is the resource policy document GetResourcePolicy returns.
	policy *string
	// readers, when not nil, are the only callers GetSecretValue answers; the
	// others get the explicit-deny error. Set with policy by world.protect.
	readers []string
}

type fakeSM struct {
	*errSwitch
	secrets map[string]*fakeSecret
	// caller is the principal ARN of the credentials the tool runs with.
	caller string
	// reads lists the secrets whose value was asked for.
	reads []string
}

func (f *fakeSM) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if err := f.fail("DescribeSecret"); err != nil {
		return nil, err
	}
	s, ok := f.secrets[*in.SecretId]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: new("Secrets Manager can't find the specified secret.")}
	}
	out := &secretsmanager.DescribeSecretOutput{Name: in.SecretId, VersionIdsToStages: map[string][]string{}}
	if s.value != nil {
		out.VersionIdsToStages["v1"] = []string{"AWSCURRENT"}
	}
	if s.deleted {
		out.DeletedDate = new(fixedTime)
	}
	return out, nil
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if err := f.fail("GetSecretValue"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.reads = append(f.reads, *in.SecretId)
	f.mu.Unlock()
	s, ok := f.secrets[*in.SecretId]
	if ok && s.readers != nil && !slices.Contains(s.readers, f.caller) {
		// Authorization comes first: the caller learns nothing about the value.
		return nil, apiErr("AccessDeniedException", "User: "+f.caller+" is not authorized to perform: secretsmanager:GetSecretValue on resource: "+*in.SecretId+" with an explicit deny in a resource-based policy")
	}
	if !ok || s.value == nil {
		return nil, &smtypes.ResourceNotFoundException{Message: new("Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")}
	}
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: new(*s.value)}, nil
}

func (f *fakeSM) GetResourcePolicy(_ context.Context, in *secretsmanager.GetResourcePolicyInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error) {
	if err := f.fail("GetResourcePolicy"); err != nil {
		return nil, err
	}
	s, ok := f.secrets[*in.SecretId]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: new("Secrets Manager can't find the specified secret.")}
	}
	out := &secretsmanager.GetResourcePolicyOutput{Name: in.SecretId}
	if s.policy != nil {
		out.ResourcePolicy = new(*s.policy)
	}
	return out, nil
}

func (f *fakeSM) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	if err := f.fail("CreateSecret"); err != nil {
		return nil, err
	}
	if _, ok := f.secrets[*in.Name]; ok {
		return nil, &smtypes.ResourceExistsException{Message: new("exists")}
	}
	f.wrote("CreateSecret")
	f.secrets[*in.Name] = &fakeSecret{value: new(*in.SecretString)}
	return &secretsmanager.CreateSecretOutput{Name: in.Name}, nil
}

func (f *fakeSM) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	if err := f.fail("PutSecretValue"); err != nil {
		return nil, err
	}
	s, ok := f.secrets[*in.SecretId]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: new("no such secret")}
	}
	f.wrote("PutSecretValue")
	s.value = new(*in.SecretString)
	return &secretsmanager.PutSecretValueOutput{}, nil
}

// fakeCommands records the commands apply runs; onRun simulates their effect.
type fakeCommands struct {
	runs  [][]string
	onRun func(args []string)
	err   error
}

func (f *fakeCommands) Run(_ context.Context, name string, args ...string) error {
	f.runs = append(f.runs, append([]string{name}, args...))
	if f.err != nil {
		return f.err
	}
	if f.onRun != nil {
		f.onRun(args)
	}
	return nil
}

var _ checks.CommandRunner = (*fakeCommands)(nil)
var _ = errors.New
