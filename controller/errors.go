package controller

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/actions/scaleset"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/githubapi"
)

// GitHubError is a failed GitHub call with its HTTP status; see githubapi.Error.
type GitHubError = githubapi.Error

// githubStatus reports the HTTP status of a GitHub error, 0 if there is none.
func githubStatus(err error) int { return githubapi.Status(err) }

// wrapScaleSetError turns an error of the scaleset client into a *GitHubError
// with the status and Retry-After of the response that caused it, as the
// client's response hook saw them (scaleset keeps no typed status).
func wrapScaleSetError(op string, err error, resp response) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	status := resp.status
	// The typed sentinels carry the status their exception implies, should a
	// response not have been seen.
	switch {
	case status == 0 && errors.Is(err, scaleset.RunnerExistsError):
		status = http.StatusConflict
	case status == 0 && errors.Is(err, scaleset.RunnerNotFoundError):
		status = http.StatusNotFound
	}
	return &GitHubError{Op: op, Status: status, RetryAfter: resp.retryAfter, Err: err}
}

// parseRetryAfter reads a Retry-After header (seconds or HTTP date).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// class is what the controller does with a failure.
type class int

const (
	// classFatal failures are not retried: the step fails closed and is logged.
	classFatal class = iota
	// classRetry failures are retried with jittered, bounded backoff.
	classRetry
	// classUnauthorized failures refresh the GitHub credential once.
	classUnauthorized
)

// classify decides whether err is worth retrying and how long the server asked
// us to wait. Only failures that a later identical call can fix are retried:
// GitHub 5xx, 429, 403 with Retry-After (secondary rate limit), transport errors,
// and what the AWS SDK classifies as throttling or retryable.
func classify(err error) (class, time.Duration) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classFatal, 0
	}
	var ge *GitHubError
	if errors.As(err, &ge) {
		switch {
		case ge.Status == 0:
			return classRetry, 0
		case ge.Status == http.StatusUnauthorized:
			return classUnauthorized, 0
		case ge.Status == http.StatusTooManyRequests:
			return classRetry, ge.RetryAfter
		case ge.Status == http.StatusForbidden && ge.RetryAfter > 0:
			return classRetry, ge.RetryAfter
		case ge.Status >= 500 && ge.Status != http.StatusNotImplemented:
			return classRetry, ge.RetryAfter
		}
		return classFatal, 0
	}
	// AWS: the SDK's own classification, the one its standard retryer uses:
	// throttling and transient codes, 5xx, and network failures (connection
	// reset, a request that could not be sent, timeouts).
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return classRetry, 0
	}
	return classFatal, 0
}

// awsCode is the AWS error code of err, or "".
func awsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// awsMessage is the AWS error message of err, or "".
func awsMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// lifecycleActionGone reports that a lifecycle action was already completed or
// has expired: completing it again is a no-op, not a failure.
func lifecycleActionGone(err error) bool {
	return awsCode(err) == "ValidationError" && strings.Contains(strings.ToLower(awsMessage(err)), "no active lifecycle action")
}

// instanceGone reports that Auto Scaling no longer knows the instance.
func instanceGone(err error) bool {
	m := strings.ToLower(awsMessage(err))
	return awsCode(err) == "ValidationError" && (strings.Contains(m, "not found") || strings.Contains(m, "not part of"))
}

// atMinSize reports that a decrementing termination was refused because the
// group is at its minimum size.
func atMinSize(err error) bool {
	m := strings.ToLower(awsMessage(err))
	return awsCode(err) == "ValidationError" && (strings.Contains(m, "minsize") || strings.Contains(m, "min size"))
}
