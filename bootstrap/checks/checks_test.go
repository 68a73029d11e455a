package checks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-github/v88/github"
)

func TestClassify(t *testing.T) {
	gh := func(code int) error {
		return &github.ErrorResponse{Response: &http.Response{StatusCode: code, Request: &http.Request{}}, Message: "x"}
	}
	for name, tc := range map[string]struct {
		err  error
		want Kind
	}{
		"typed not found, wrapped": {fmt.Errorf("ctx: %w", &smtypes.ResourceNotFoundException{}), KindNotFound},
		"cfn missing stack":        {&smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id x does not exist"}, KindNotFound},
		"cfn other validation":     {&smithy.GenericAPIError{Code: "ValidationError", Message: "bad name"}, KindOther},
		"ec2 denied":               {&smithy.GenericAPIError{Code: "UnauthorizedOperation"}, KindDenied},
		"ec2 throttled":            {&smithy.GenericAPIError{Code: "RequestLimitExceeded"}, KindThrottled},
		"expired token":            {&smithy.GenericAPIError{Code: "ExpiredToken"}, KindUnauthenticated},
		"github 404":               {gh(404), KindNotFound},
		"github 403":               {gh(403), KindDenied},
		"github 401":               {gh(401), KindUnauthenticated},
		"github rate limit":        {&github.RateLimitError{Response: &http.Response{StatusCode: 403}}, KindThrottled},
		"plain":                    {errors.New("boom"), KindOther},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: got %d, want %d", name, got, tc.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := &Redactor{}
	r.Add("abc", "FAKE-secret-value-123", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAfakefakefake\n-----END RSA PRIVATE KEY-----")
	row := r.Row(Row{Detail: "saw FAKE-secret-value-123 and MIIEowIBAAKCAQEAfakefakefake", Fix: "abc stays"})
	if strings.Contains(row.Detail, "FAKE-secret") || strings.Contains(row.Detail, "MIIEow") || row.Fix != "abc stays" {
		t.Errorf("%+v", row)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote("npx", "--tags", "CostCenter=Platform Infrastructure / 990300", "it's")
	want := `npx --tags 'CostCenter=Platform Infrastructure / 990300' 'it'\''s'`
	if got != want {
		t.Errorf("got %s", got)
	}
}
