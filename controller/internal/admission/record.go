package admission

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ParameterStore is the part of the SSM client the recorder calls.
type ParameterStore interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// Recorder writes verdicts where the runner's job-started hook reads them: one
// SecureString parameter per instance, Prefix + instance id, tagged with the
// instance's ARN (the runner role reads only a parameter carrying its own
// instance's ARN) and the environment. Only the controller's role may write.
type Recorder struct {
	SSM ParameterStore
	// Prefix is the verdict path, ending in / (config.AdmissionParameterPrefix).
	Prefix string
	// Environment is the environment tag's value.
	Environment string
	// TagEnvironment and TagInstanceArn are the tag keys (settings.TagEnvironment,
	// settings.TagJitInstanceArn), passed in to keep this package free of the
	// settings contract.
	TagEnvironment, TagInstanceArn string
}

// Name is the verdict parameter of an instance.
func (r Recorder) Name(instanceID string) string { return r.Prefix + instanceID }

// Record writes v for the instance. A verdict already there (a repeated job
// message, a retried call) is replaced only by a deny: a later allow never
// lifts an earlier refusal.
func (r Recorder) Record(ctx context.Context, instanceID, instanceArn string, v Verdict) error {
	name := r.Name(instanceID)
	_, err := r.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(v.Encode()), Type: ssmtypes.ParameterTypeSecureString,
		Description: aws.String("admission verdict on the job of " + instanceID),
		Tags: []ssmtypes.Tag{
			{Key: aws.String(r.TagEnvironment), Value: aws.String(r.Environment)},
			{Key: aws.String(r.TagInstanceArn), Value: aws.String(instanceArn)},
		},
	})
	var exists *ssmtypes.ParameterAlreadyExists
	if errors.As(err, &exists) {
		if v.Allow {
			return nil
		}
		// Overwrite cannot be combined with Tags; the tags are there already.
		_, err = r.SSM.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(v.Encode()), Type: ssmtypes.ParameterTypeSecureString,
			Overwrite: aws.Bool(true),
		})
	}
	if err != nil {
		return fmt.Errorf("admission: record verdict %s: %w", name, err)
	}
	return nil
}

// Delete removes the instance's verdict once the instance is gone; a verdict
// already gone is not an error.
func (r Recorder) Delete(ctx context.Context, instanceID string) error {
	_, err := r.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(r.Name(instanceID))})
	var nf *ssmtypes.ParameterNotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("admission: delete verdict %s: %w", r.Name(instanceID), err)
	}
	return nil
}
