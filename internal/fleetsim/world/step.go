package world

import (
	"strings"
	"time"
)

// Usage keys the instance-seconds counter.
type Usage struct {
	Group, Type string
	Spot        bool
}

// Stats are the world's observable counters.
type Stats struct {
	InstancesLaunched int
	LaunchFailures    int
	// InstanceSeconds per group, instance type and purchase option, for every
	// instance that exists (running, waiting in a hook or stopping).
	InstanceSeconds map[Usage]float64
}

// Tick plays Auto Scaling without moving the clock: time-driven events due
// now, then launches up to each group's desired capacity and refills warm
// pools. It returns the instances launched (or taken out of the warm pool).
func (w *World) Tick() []string {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	return w.tickLocked()
}

func (w *World) tickLocked() []string {
	w.AdvanceLocked()
	var ids []string
	for _, n := range w.groupNames() {
		g := w.Groups[n]
		for g.AutoLaunch && len(w.LiveIn(n)) < g.Desired {
			// A scale-out takes a prepared, stopped warm instance first: it is
			// started and waits in the launch hook again (Origin WarmPool,
			// Destination AutoScalingGroup); EC2 resets its launch time.
			if in := w.stoppedWarm(n); in != nil {
				in.Launch = w.Now()
				w.enterHook(in, StatePendingWait, g.LaunchHook)
				ids = append(ids, in.ID)
				continue
			}
			id := w.LaunchInstance(n)
			if id == "" {
				break // no capacity: retried on the next tick
			}
			ids = append(ids, id)
		}
		for g.WarmPool && len(w.WarmIn(n)) < g.WarmMin {
			id := w.LaunchWarm(n)
			if id == "" {
				break
			}
			ids = append(ids, id)
		}
		w.scaleIn(g)
	}
	return ids
}

// scaleIn terminates unprotected instances, newest first, while the group
// holds more than its desired capacity. Protected instances are never chosen:
// the group then stays above its desired capacity. Caller holds Mu.
func (w *World) scaleIn(g *Group) {
	live := w.LiveIn(g.Name)
	excess := len(live) - g.Desired
	for i := len(live) - 1; i >= 0 && excess > 0; i-- {
		if live[i].Protected {
			continue
		}
		w.terminate(live[i], false, "scale-in")
		excess--
	}
}

func (w *World) stoppedWarm(group string) *Instance {
	for _, in := range w.WarmIn(group) {
		if in.Lifecycle == StateWarmedStopped {
			return in
		}
	}
	return nil
}

// Step advances the clock by d and plays what happens meanwhile: lifecycle
// actions time out, spot instances are reclaimed, Auto Scaling replaces
// unhealthy instances and launches to its desired capacity, the instances'
// agents boot, take their JIT config and run their job (with Options.Agents),
// and GitHub assigns queued jobs and finishes running ones. Keep d at or
// below the shortest timeout that matters (30 s is a good step): events are
// played at the end of the step.
func (w *World) Step(d time.Duration) {
	w.Mu.Lock()
	for _, in := range w.Instances {
		if in.Lifecycle != StateWarmedStopped {
			w.Stats.InstanceSeconds[Usage{Group: in.Group, Type: in.Type, Spot: in.Spot}] += d.Seconds()
		}
	}
	w.Clock.Advance(d)
	now := w.Now()
	// Auto Scaling's health checks replace unhealthy instances.
	for _, id := range w.Order {
		if in := w.Instances[id]; in != nil && !in.Healthy && in.Lifecycle == StateInService {
			w.terminate(in, false, "health")
		}
	}
	w.tickLocked()
	var boot, leave []*Instance
	if w.Opt.Agents {
		for _, id := range w.Order {
			in := w.Instances[id]
			switch {
			case in.Lifecycle != StateInService && in.Lifecycle != StateTerminatingWait:
			case !in.booted && !in.BootFails && in.Lifecycle == StateInService && !now.Before(in.inService.Add(w.Opt.BootDelay)):
				// The boot script waits for its config, reads it and deletes it.
				name := w.Opt.JitPrefix + id
				if _, ok := w.Params[name]; ok {
					delete(w.Params, name)
					w.tombstones[name] = now
					in.booted = true
					boot = append(boot, in)
				}
			case !in.doneAt.IsZero() && !now.Before(in.doneAt.Add(w.Opt.LeaveDelay)) && !terminating(in):
				leave = append(leave, in)
			}
		}
		for _, in := range leave {
			in.doneAt = time.Time{}
			if in.leaveFail {
				continue // the runner exited, the instance idles until someone removes it
			}
			w.terminate(in, true, "self")
		}
	}
	w.Mu.Unlock()
	for _, in := range boot {
		w.GitHub.RunnerOnline(in.ID)
	}
	done := w.GitHub.step(now)
	if len(done) > 0 {
		w.Mu.Lock()
		for _, id := range done {
			if in := w.Instances[id]; in != nil {
				in.doneAt = now
			}
		}
		w.Mu.Unlock()
	}
}

// MarkUnhealthy makes an instance fail its health check; Step replaces it
// (through the terminate hook, without decrement).
func (w *World) MarkUnhealthy(id string) {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if in := w.Instances[id]; in != nil {
		in.Healthy = false
	}
}

// OperatorTerminate is a person terminating an instance through Auto Scaling
// (console or CLI), through the terminate hook.
func (w *World) OperatorTerminate(id string, decrement bool) {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if in := w.Instances[id]; in != nil {
		w.terminate(in, decrement, "operator")
	}
}

// InterruptSpot sends the two-minute spot interruption warning for a spot
// instance (and, with Events, the EventBridge event); two minutes later EC2
// reclaims it whatever any hook says. It reports whether it applied.
func (w *World) InterruptSpot(id string) bool {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	in := w.Instances[id]
	if in == nil || !in.Spot || !in.interrupt.IsZero() || IsWarm(in) {
		return false
	}
	in.interrupt = w.Now().Add(2 * time.Minute)
	if w.Opt.Events {
		w.send(`{"detail-type":"EC2 Spot Instance Interruption Warning","detail":{"instance-id":"` + id + `","instance-action":"terminate"}}`)
	}
	return true
}

// RebalanceRecommendation sends EC2's rebalance recommendation for an
// instance; with capacity rebalancing off nothing else happens.
func (w *World) RebalanceRecommendation(id string) {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if w.Opt.Events {
		w.send(`{"detail-type":"EC2 Instance Rebalance Recommendation","detail":{"instance-id":"` + id + `"}}`)
	}
}

// event sends the EventBridge lifecycle action for an instance entering a
// hook's wait. Caller holds Mu.
func (w *World) event(in *Instance, state string) {
	if !w.Opt.Events || in.hook == "" {
		return
	}
	dt, origin, dest := "EC2 Instance-launch Lifecycle Action", "EC2", "AutoScalingGroup"
	switch state {
	case StateWarmedPendingWait:
		dest = "WarmPool"
	case StateTerminatingWait:
		dt, origin, dest = "EC2 Instance-terminate Lifecycle Action", "AutoScalingGroup", "EC2"
	case StateWarmedTerminatingWait:
		dt, origin, dest = "EC2 Instance-terminate Lifecycle Action", "WarmPool", "EC2"
	}
	transition := "autoscaling:EC2_INSTANCE_LAUNCHING"
	if strings.Contains(dt, "terminate") {
		transition = "autoscaling:EC2_INSTANCE_TERMINATING"
	}
	w.send(`{"detail-type":"` + dt + `","detail":{"AutoScalingGroupName":"` + in.Group + `","EC2InstanceId":"` + in.ID +
		`","LifecycleHookName":"` + in.hook + `","LifecycleTransition":"` + transition + `","Origin":"` + origin + `","Destination":"` + dest + `"}}`)
}
