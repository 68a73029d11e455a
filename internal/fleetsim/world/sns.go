package world

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// SNS is the alarm topic of the world; Published keeps every message.
type SNS struct{ w *World }

func (s *SNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	w := s.w
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if err := w.take("Publish", w.Now()); err != nil {
		return nil, err
	}
	w.Published = append(w.Published, aws.ToString(in.Message))
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}
