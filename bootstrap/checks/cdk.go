package checks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

const checkCdk = "cdk bootstrap"

// stableStackStatuses are the states in which a stack can be deployed over.
var stableStackStatuses = []cfntypes.StackStatus{
	cfntypes.StackStatusCreateComplete, cfntypes.StackStatusUpdateComplete,
	cfntypes.StackStatusUpdateRollbackComplete, cfntypes.StackStatusImportComplete,
}

// CdkBootstrapCommand is the pinned CDK CLI's bootstrap command for env, with
// the trust and execution policies from config (the CLI comes from the project's
// package.json, so npx runs the pinned version).
func CdkBootstrapCommand(env config.Environment) []string {
	b := env.CdkBootstrap
	args := []string{"npx", "cdk", "bootstrap", fmt.Sprintf("aws://%s/%s", env.Account, env.Region),
		"--qualifier", b.Qualifier, "--toolkit-stack-name", b.StackName}
	for _, a := range b.TrustAccounts {
		args = append(args, "--trust", a)
	}
	args = append(args, "--cloudformation-execution-policies", strings.Join(b.ExecutionPolicyArns, ","))
	keys := make([]string, 0, len(env.Tags))
	for k := range env.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--tags", k+"="+env.Tags[k])
	}
	return args
}

// describeStack returns the stack, or nil when it does not exist.
func describeStack(ctx context.Context, api CloudFormationAPI, name string) (*cfntypes.Stack, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
	if err != nil {
		if Classify(err) == KindNotFound {
			return nil, nil
		}
		return nil, err
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

func (r *runner) checkCdk(ctx context.Context) Row {
	env := r.in.Env
	b := env.CdkBootstrap
	param := fmt.Sprintf("/cdk-bootstrap/%s/version", b.Qualifier)
	version, paramFound := 0, true
	out, err := r.in.AWS.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: &param})
	switch {
	case err != nil && Classify(err) == KindNotFound:
		paramFound = false
	case err != nil:
		return errorRow(checkCdk, "ssm:GetParameter "+param, err)
	case out.Parameter != nil:
		version, _ = strconv.Atoi(deref(out.Parameter.Value))
	}
	stack, err := describeStack(ctx, r.in.AWS.CloudFormation, b.StackName)
	if err != nil {
		return errorRow(checkCdk, "cloudformation:DescribeStacks "+b.StackName, err)
	}
	cmd := shellQuote(CdkBootstrapCommand(env)...)
	switch {
	case !paramFound && stack == nil:
		return Row{Check: checkCdk, State: Missing,
			Detail: fmt.Sprintf("no CDK bootstrap in %s/%s: no parameter %s and no stack %s", env.Account, env.Region, param, b.StackName),
			Fix:    "run apply, which runs: " + cmd}
	case stack == nil:
		return Row{Check: checkCdk, State: Wrong,
			Detail: fmt.Sprintf("parameter %s says version %d but stack %s does not exist: another stack owns qualifier %s", param, version, b.StackName, b.Qualifier),
			Fix:    "set cdkBootstrap.stackName to the stack that owns the qualifier (aws cloudformation describe-stacks); the bootstrap never deploys a second one"}
	case !paramFound:
		q := ""
		for _, p := range stack.Parameters {
			if deref(p.ParameterKey) == "Qualifier" {
				q = deref(p.ParameterValue)
			}
		}
		return Row{Check: checkCdk, State: Wrong,
			Detail: fmt.Sprintf("stack %s exists but parameter %s does not: the stack uses qualifier %q", b.StackName, param, q),
			Fix:    fmt.Sprintf("set cdkBootstrap.qualifier to %q in environments/%s.json", q, env.Name)}
	case !slices.Contains(stableStackStatuses, stack.StackStatus):
		return Row{Check: checkCdk, State: Wrong,
			Detail: fmt.Sprintf("stack %s is %s", b.StackName, stack.StackStatus),
			Fix:    "wait for the stack operation to finish, or repair the stack in the CloudFormation console, then run again"}
	case version < b.MinVersion:
		return Row{Check: checkCdk, State: Wrong,
			Detail: fmt.Sprintf("bootstrap version %d is older than %d, the version this app needs", version, b.MinVersion),
			Fix:    "upgrade the existing bootstrap in place (same stack and qualifier): " + cmd}
	}
	return Row{Check: checkCdk, State: OK,
		Detail: fmt.Sprintf("stack %s (%s), qualifier %s, version %d (needs %d or later)", b.StackName, stack.StackStatus, b.Qualifier, version, b.MinVersion)}
}

// fixCdk bootstraps only an account with no bootstrap at all: an existing one,
// even an old or broken one, is someone else's to change.
func (r *runner) fixCdk(ctx context.Context, row Row) (string, error) {
	if row.State != Missing {
		return "", nil
	}
	args := CdkBootstrapCommand(r.in.Env)
	if err := r.in.Commands.Run(ctx, args[0], args[1:]...); err != nil {
		return "", fmt.Errorf("running %s: %w", shellQuote(args[:3]...), err)
	}
	return "ran " + shellQuote(args[:4]...), nil
}
