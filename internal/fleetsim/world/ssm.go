package world

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSM's value limits by tier, and the error it returns past the Standard one
// (a tier-less PutParameter gets the account's default tier, Standard).
const (
	SSMStandardMax      = 4096
	SSMAdvancedMax      = 8192
	ssmStandardTooLarge = "Standard tier parameters support a maximum parameter value of 4096 characters. " +
		"To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
)

// SSM is the Parameter Store API of the world.
type SSM struct{ w *World }

func (s *SSM) call(op string) error {
	s.w.Mu.Lock()
	if err := s.w.take(op, s.w.Now()); err != nil {
		s.w.Mu.Unlock()
		return err
	}
	return nil
}

func (s *SSM) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if err := s.call("PutParameter"); err != nil {
		return nil, err
	}
	w := s.w
	defer w.Mu.Unlock()
	name := aws.ToString(in.Name)
	if in.Type != ssmtypes.ParameterTypeSecureString {
		return nil, APIError("ValidationException", "not a SecureString")
	}
	old, exists := w.Params[name]
	if exists && !aws.ToBool(in.Overwrite) {
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")}
	}
	if aws.ToBool(in.Overwrite) && len(in.Tags) > 0 {
		return nil, APIError("ValidationException", "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	tier := in.Tier
	if tier == "" {
		tier = ssmtypes.ParameterTierStandard
	}
	switch n := len(aws.ToString(in.Value)); {
	case tier == ssmtypes.ParameterTierStandard && n > SSMStandardMax:
		return nil, APIError("ValidationException", ssmStandardTooLarge)
	case n > SSMAdvancedMax:
		return nil, APIError("ValidationException", fmt.Sprintf("Parameter value length %d exceeds the maximum of %d", n, SSMAdvancedMax))
	}
	p := Param{Value: aws.ToString(in.Value), Tier: tier, Tags: map[string]string{}, Created: w.Now()}
	if exists {
		p.Tags, p.Created = old.Tags, old.Created
	}
	for _, t := range in.Tags {
		p.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	w.Params[name] = p
	delete(w.tombstones, name)
	return &ssm.PutParameterOutput{Tier: tier, Version: 1}, nil
}

func (s *SSM) DeleteParameter(_ context.Context, in *ssm.DeleteParameterInput, _ ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	if err := s.call("DeleteParameter"); err != nil {
		return nil, err
	}
	w := s.w
	defer w.Mu.Unlock()
	name := aws.ToString(in.Name)
	if _, ok := w.Params[name]; !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	delete(w.Params, name)
	w.tombstones[name] = w.Now()
	return &ssm.DeleteParameterOutput{}, nil
}

// DescribeParameters lists the parameters under a Path filter (OneLevel), in
// pages of at most MaxResults (default 10, as SSM). The list is eventually
// consistent: a parameter shows up Options.SSMListDelay after it is put, and
// a deleted one still shows that long after its deletion.
func (s *SSM) DescribeParameters(_ context.Context, in *ssm.DescribeParametersInput, _ ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error) {
	if err := s.call("DescribeParameters"); err != nil {
		return nil, err
	}
	w := s.w
	defer w.Mu.Unlock()
	prefix := ""
	for _, f := range in.ParameterFilters {
		if aws.ToString(f.Key) == "Path" && len(f.Values) > 0 {
			prefix = strings.TrimSuffix(f.Values[0], "/") + "/"
		}
	}
	now, delay := w.Now(), w.Opt.SSMListDelay
	var names []string
	for n, p := range w.Params {
		if strings.HasPrefix(n, prefix) && !strings.Contains(n[len(prefix):], "/") && now.Sub(p.Created) >= delay {
			names = append(names, n)
		}
	}
	for n, at := range w.tombstones {
		if strings.HasPrefix(n, prefix) && now.Sub(at) < delay {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	size := int(aws.ToInt32(in.MaxResults))
	if size <= 0 {
		size = 10
	}
	got, next := page(names, in.NextToken, size)
	out := &ssm.DescribeParametersOutput{NextToken: next}
	for _, n := range got {
		out.Parameters = append(out.Parameters, ssmtypes.ParameterMetadata{Name: aws.String(n)})
	}
	return out, nil
}
