package runnerrelease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSM is the part of the SSM client the publisher uses.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Publisher writes the adopted release to the one parameter instances read.
type Publisher struct {
	SSM  SSM
	Name string
}

// Current reads the published release. ok is false when nothing is published
// yet (ParameterNotFound); any other error is an error, never "absent".
func (p Publisher) Current(ctx context.Context) (r Release, ok bool, err error) {
	out, err := p.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.Name)})
	var notFound *types.ParameterNotFound
	if errors.As(err, &notFound) {
		return Release{}, false, nil
	}
	if err != nil {
		return Release{}, false, fmt.Errorf("runnerrelease: read %s: %w", p.Name, err)
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &r); err != nil {
		// A malformed value is replaced by the next publication; instances
		// meanwhile fall back to the floor.
		return Release{}, false, nil //nolint:nilerr // malformed means "not published yet", not a failed read

	}
	return r, true, nil
}

// Publish writes r unless the parameter already holds exactly r, and reports
// whether it wrote.
func (p Publisher) Publish(ctx context.Context, r Release) (bool, error) {
	cur, ok, err := p.Current(ctx)
	if err != nil {
		return false, err
	}
	if ok && cur == r {
		return false, nil
	}
	value, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("runnerrelease: %w", err)
	}
	_, err = p.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(p.Name),
		Value:       aws.String(string(value)),
		Type:        types.ParameterTypeString,
		Overwrite:   aws.Bool(true),
		Description: aws.String("GitHub Actions runner release instances install; written by the fleet controller"),
	})
	if err != nil {
		return false, fmt.Errorf("runnerrelease: publish %s to %s: %w", r.Version, p.Name, err)
	}
	return true, nil
}
