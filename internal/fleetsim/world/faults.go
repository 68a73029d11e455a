package world

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/Sage-Bionetworks/synapse-ops-runners/internal/githubapi"
)

// Faults decides which calls fail. Three kinds, checked in this order:
// always[op] fails every call; a Window fails every call to its ops while the
// clock is inside it (an outage, a 5xx storm, throttling); next[op] fails the
// next calls once each, in order. Op names are the API method names
// ("DescribeAutoScalingGroups", "RemoveRunner"), or "*" in a window for every
// call of that service.
type Faults struct {
	// fmu guards the fields below, so tests may read counts while the
	// controller runs; it is taken inside World.Mu or GitHub.Mu, never around them.
	fmu     sync.Mutex
	next    map[string][]error
	always  map[string]error
	windows []Window
	calls   map[string]int
}

// Window is a period during which calls fail.
type Window struct {
	// Ops are the calls that fail; "*" (or none) is every call.
	Ops      []string
	From, To time.Time
	Err      error
}

// FailNext queues errs for the next calls to op, one each.
func (f *Faults) FailNext(op string, errs ...error) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if f.next == nil {
		f.next = map[string][]error{}
	}
	f.next[op] = append(f.next[op], errs...)
}

// FailAlways makes every call to op fail with err (nil clears it).
func (f *Faults) FailAlways(op string, err error) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if f.always == nil {
		f.always = map[string]error{}
	}
	if err == nil {
		delete(f.always, op)
		return
	}
	f.always[op] = err
}

// AddWindow schedules an outage.
func (f *Faults) AddWindow(w Window) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.windows = append(f.windows, w)
}

// ClearFaults drops every queued, permanent and scheduled failure.
func (f *Faults) ClearFaults() {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.next, f.always, f.windows = nil, nil, nil
}

// Count is how many times op was called (failed calls included).
func (f *Faults) Count(op string) int {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return f.calls[op]
}

// take records a call to op at now and returns the failure it gets, if any.
func (f *Faults) take(op string, now time.Time) error {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	if e := f.always[op]; e != nil {
		return e
	}
	for _, w := range f.windows {
		if now.Before(w.From) || !now.Before(w.To) {
			continue
		}
		if len(w.Ops) == 0 {
			return w.Err
		}
		for _, o := range w.Ops {
			if o == "*" || o == op {
				return w.Err
			}
		}
	}
	if q := f.next[op]; len(q) > 0 {
		f.next[op] = q[1:]
		return q[0]
	}
	return nil
}

// APIError is an AWS API error as the SDK returns it: wrapped in the
// response error carrying the HTTP status AWS sends with that code (5xx for
// InternalError, InternalFailure, ServiceUnavailable; 400 otherwise), which
// is what the SDK's retry classification reads.
func APIError(code, msg string) error {
	status := http.StatusBadRequest
	switch code {
	case "InternalError", "InternalFailure":
		status = http.StatusInternalServerError
	case "ServiceUnavailable", "Unavailable":
		status = http.StatusServiceUnavailable
	}
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err:      &smithy.GenericAPIError{Code: code, Message: msg},
	}}
}

// HTTPError is a GitHub failure with status (and Retry-After), as the
// controller's adapters produce it from the response. A 404 made this way
// is NOT the runner-not-found answer: it is what GitHub sends for a
// misrouted or briefly inconsistent request, and proves nothing.
func HTTPError(status int, retryAfter time.Duration) error {
	return &githubapi.Error{Op: "world", Status: status, RetryAfter: retryAfter, Err: fmt.Errorf("status %d", status)}
}

// WindowOpen reports whether a scheduled window covering op is open at now.
func (f *Faults) WindowOpen(op string, now time.Time) bool {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	for _, w := range f.windows {
		if now.Before(w.From) || !now.Before(w.To) {
			continue
		}
		if len(w.Ops) == 0 {
			return true
		}
		for _, o := range w.Ops {
			if o == "*" || o == op {
				return true
			}
		}
	}
	return false
}
