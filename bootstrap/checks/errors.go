package checks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v88/github"
)

// Kind classifies an error from AWS or GitHub so a check can turn it into the
// right state: not found is usually "missing", the others are "error" rows.
type Kind int

// Error kinds.
const (
	KindOther Kind = iota
	KindNotFound
	KindDenied
	KindThrottled
	// KindUnauthenticated is a rejected credential (GitHub 401, AWS missing or
	// expired credentials).
	KindUnauthenticated
)

var (
	notFoundCodes = map[string]bool{
		"ParameterNotFound": true, "ResourceNotFoundException": true, "NoSuchEntity": true,
		"NoSuchEntityException": true, "InvalidVpcID.NotFound": true, "InvalidSubnetID.NotFound": true,
	}
	deniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
		"AuthorizationError": true, "AuthorizationErrorException": true,
	}
	throttledCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
		"RequestLimitExceeded": true, "TooManyRequestsException": true, "RequestThrottled": true,
		"RequestThrottledException": true, "SlowDown": true,
	}
	unauthenticatedCodes = map[string]bool{
		"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
		"UnrecognizedClientException": true, "SignatureDoesNotMatch": true, "AuthFailure": true,
	}
)

// Classify returns the kind of err, looking through wrapping with errors.As.
func Classify(err error) Kind {
	if err == nil {
		return KindOther
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &abuse) {
		return KindThrottled
	}
	var ghErr *github.ErrorResponse
	if errors.As(err, &ghErr) && ghErr.Response != nil {
		return kindOfStatus(ghErr.Response.StatusCode)
	}
	var instErr *ghinstallation.HTTPError
	if errors.As(err, &instErr) && instErr.Response != nil {
		return kindOfStatus(instErr.Response.StatusCode)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case notFoundCodes[code]:
			return KindNotFound
		case deniedCodes[code]:
			return KindDenied
		case throttledCodes[code]:
			return KindThrottled
		case unauthenticatedCodes[code]:
			return KindUnauthenticated
		case code == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "does not exist"):
			// CloudFormation reports a stack that does not exist this way.
			return KindNotFound
		}
	}
	return KindOther
}

func kindOfStatus(status int) Kind {
	switch status {
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusForbidden:
		return KindDenied
	case http.StatusUnauthorized:
		return KindUnauthenticated
	case http.StatusTooManyRequests:
		return KindThrottled
	}
	return KindOther
}

// errorRow turns an error of a call the check could not do without into an
// "error" row that names the call and what to do about it.
func errorRow(check, call string, err error) Row {
	r := Row{Check: check, State: Error}
	switch Classify(err) {
	case KindDenied:
		r.Detail = fmt.Sprintf("access denied calling %s: %s", call, errMessage(err))
		r.Fix = fmt.Sprintf("run with a principal allowed to call %s (see docs/bootstrap.md, Permissions)", call)
	case KindThrottled:
		r.Detail = fmt.Sprintf("%s was throttled after retries: %s", call, errMessage(err))
		r.Fix = "run the bootstrap again in a minute"
	case KindUnauthenticated:
		r.Detail = fmt.Sprintf("%s: credential rejected: %s", call, errMessage(err))
		r.Fix = "refresh the credential and run again"
	default:
		r.Detail = fmt.Sprintf("%s failed: %s", call, errMessage(err))
		r.Fix = "run again; if it persists, check the service health and the message above"
	}
	return r
}

// errMessage is a short, single-line description of err. For API errors it is
// the service's code and message, which never carry a secret value.
func errMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return oneLine(apiErr.ErrorCode() + ": " + apiErr.ErrorMessage())
	}
	var ghErr *github.ErrorResponse
	if errors.As(err, &ghErr) && ghErr.Response != nil {
		msg := fmt.Sprintf("HTTP %d %s", ghErr.Response.StatusCode, ghErr.Message)
		if need := ghErr.Response.Header.Get("X-Accepted-GitHub-Permissions"); need != "" {
			msg += " (GitHub says it needs: " + need + ")"
		}
		return oneLine(msg)
	}
	var instErr *ghinstallation.HTTPError
	if errors.As(err, &instErr) && instErr.Response != nil {
		return fmt.Sprintf("HTTP %d from the installation token endpoint", instErr.Response.StatusCode)
	}
	return oneLine(err.Error())
}
