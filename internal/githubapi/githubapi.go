// Package githubapi holds the GitHub-side types that the fleet controller and
// the world model (internal/fleetsim/world) both speak: a runner registration as
// the runner list shows it, and a GitHub failure carrying its HTTP status. It
// exists so the world model can stand in for GitHub without importing the
// controller, which imports the world model in its tests.
package githubapi

import (
	"errors"
	"fmt"
	"time"
)

// Registration is a runner registration as the repository's runner list shows it.
// The list's busy flag is deliberately absent: the controller never acts on it.
type Registration struct {
	ID     int64
	Name   string
	Online bool
}

// Error is a failed GitHub call with its HTTP status (0 for a transport
// failure) and, when GitHub sent one, how long it asked us to wait. Every error
// from the GitHub side reaches the controller as one, so it is classified with
// errors.As instead of by message.
type Error struct {
	Op         string
	Status     int
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("github %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("github %s: status %d: %v", e.Op, e.Status, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Status reports the HTTP status of a GitHub error, 0 if there is none.
func Status(err error) int {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Status
	}
	return 0
}
