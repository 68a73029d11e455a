package controller

// JIT runner configs in SSM Parameter Store.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func (c *Controller) parameterName(id string) string { return c.s.JitParameterPrefix + id }

// putConfig stores the JIT config as a SecureString tagged with the instance's
// ARN: the IAM policy lets only that instance read and delete it.
//
// Both writes ask for the Advanced tier: a Standard parameter holds at most
// 4 KB and GitHub's encoded JIT configs can be larger, which SSM refuses with
// a ValidationException (fatal, so the launch would never get its config). An
// Advanced parameter holds 8 KB and is billed per hour while it exists; the
// config lives only until the instance reads and deletes it.
func (c *Controller) putConfig(ctx context.Context, p *pool, v *groupView, id, config string) error {
	account := c.accountID()
	if account == "" {
		account = accountFromArn(v.arn)
	}
	if account == "" {
		return errors.New("account id unknown: cannot tag the JIT parameter with the instance ARN")
	}
	arn := fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", c.s.Region, account, id)
	name := c.parameterName(id)
	return c.aws(ctx, "put-jit-parameter", func(ctx context.Context) error {
		_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(config), Type: ssmtypes.ParameterTypeSecureString,
			Tier:        ssmtypes.ParameterTierAdvanced,
			Description: aws.String("single-use GitHub runner JIT config for " + id),
			Tags: []ssmtypes.Tag{
				{Key: aws.String(settings.TagEnvironment), Value: aws.String(c.s.Environment)},
				{Key: aws.String(settings.TagJitInstanceArn), Value: aws.String(arn)},
			},
		})
		var exists *ssmtypes.ParameterAlreadyExists
		if errors.As(err, &exists) {
			// Left by an earlier attempt for this same instance, so its tags are
			// right already; Overwrite cannot be combined with Tags.
			_, err = c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
				Name: aws.String(name), Value: aws.String(config), Type: ssmtypes.ParameterTypeSecureString,
				Tier: ssmtypes.ParameterTierAdvanced, Overwrite: aws.Bool(true),
			})
		}
		return err
	})
}

func (c *Controller) deleteConfig(ctx context.Context, p *pool, id string) {
	err := c.aws(ctx, "delete-jit-parameter", func(ctx context.Context) error {
		_, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(c.parameterName(id))})
		return err
	})
	var nf *ssmtypes.ParameterNotFound
	if err != nil && !errors.As(err, &nf) {
		c.fail(p, "delete-jit-parameter", err, "instance_id", id)
	}
}

// listConfigs lists the names of the JIT config parameters. The sweeper lists
// them before it describes the groups: a config is put only for an instance
// already launched, so every config listed belongs to an instance that the
// describe after it shows, unless that instance is gone.
func (c *Controller) listConfigs(ctx context.Context) ([]string, error) {
	var names []string
	err := c.aws(ctx, "describe-parameters", func(ctx context.Context) error {
		names = nil
		in := &ssm.DescribeParametersInput{MaxResults: aws.Int32(50), ParameterFilters: []ssmtypes.ParameterStringFilter{{
			Key: aws.String("Path"), Option: aws.String("OneLevel"), Values: []string{strings.TrimSuffix(c.s.JitParameterPrefix, "/")},
		}}}
		for pages := ssm.NewDescribeParametersPaginator(c.ssm, in); pages.HasMorePages(); {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, m := range out.Parameters {
				names = append(names, aws.ToString(m.Name))
			}
		}
		return nil
	})
	return names, err
}

// sweepConfigs deletes the listed JIT configs whose instance is in no group.
func (c *Controller) sweepConfigs(ctx context.Context, names []string, known map[string]bool) {
	for _, n := range names {
		id := strings.TrimPrefix(n, c.s.JitParameterPrefix)
		if known[id] {
			continue
		}
		c.deleteConfig(ctx, nil, id)
		c.log.Info("leftover JIT config deleted", "instance_id", id)
	}
}
