package config

import (
	"fmt"
	"time"
)

// Auto Scaling holds an instance in a lifecycle hook for at most
// min(100 x the hook's heartbeat timeout, 48 h), whatever the heartbeats.
const (
	// HookHeartbeatsPerAction is how many heartbeat timeouts one action may last.
	HookHeartbeatsPerAction = 100
	// MaxHookHold is the 48-hour global timeout of a lifecycle action.
	MaxHookHold = 48 * time.Hour
	// maxRuntimeGrace is the watchdog's default grace between its alarm and
	// the termination (the controller's DefaultMaxRuntimeGrace).
	maxRuntimeGrace = 15 * time.Minute
)

// TerminateHookTimeout is the heartbeat timeout of the pool's terminate hook:
// how long a busy runner in it survives a controller outage. 15 minutes for
// a standard pool, 2 hours for a long pool.
func (p Pool) TerminateHookTimeout() time.Duration {
	if p.IsLong() {
		return 2 * time.Hour
	}
	return 15 * time.Minute
}

// TerminateHookHold is the longest the terminate hook can hold a busy runner:
// min(100 x TerminateHookTimeout, 48 h) (25 h for a standard pool, 48 h for a
// long one). A job the watchdog allows to run longer than this can be killed
// by a health replacement or a manual termination however well the controller
// heartbeats.
func (p Pool) TerminateHookHold() time.Duration {
	return min(HookHeartbeatsPerAction*p.TerminateHookTimeout(), MaxHookHold)
}

func hookTimeoutText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d min", int(d/time.Minute))
}
