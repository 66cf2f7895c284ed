// Package procs decides how many Ps (threads running Go code at once) the
// controller runs on. Its work is mostly waiting on the API server, and on
// two cores a second P then costs more CPU than it saves time: threads wake
// and spin for each other (17% more CPU for a 3,000-node rollout,
// docs/benchmarks/procs-3000). But when 100 nodes join under 20 DaemonSets,
// decoding their events and syncing keeps one P busy, and the most urgent
// pods wait for it (critical pods 1.5–2.4 s on one P, 1.0 s on two). So the
// controller runs on one P while that P has time to spare, and adds one
// while a burst keeps them all busy.
package procs

import (
	"context"
	"runtime"
	"time"

	"k8s.io/klog/v2"
)

// Policy says when to add and when to drop a P.
type Policy struct {
	// Max is the most Ps to run on; at least 1.
	Max int
	// Up adds a P when one interval kept the Ps at least this busy (0 to 1).
	Up float64
	// Down drops a P when one fewer would have been at most this busy...
	Down float64
	// ...for Calm intervals in a row: a burst pauses between its waves, and
	// every change of GOMAXPROCS stops the world.
	Calm int
}

// Default is tuned for bursts of watch events: an interval of a tenth of a
// second (Every) sees a burst before most of its work has queued, and three
// quiet seconds end it.
var Default = Policy{Up: 0.8, Down: 0.5, Calm: 30}

// Every is how often Run measures.
const Every = 100 * time.Millisecond

// State is what the policy remembers between intervals.
type State struct {
	Procs int // Ps in use
	calm  int // quiet intervals in a row
}

// Next returns the state after an interval in which the process used cores
// CPUs on average (CPU time over wall time).
func (p Policy) Next(s State, cores float64) State {
	if s.Procs < 1 {
		s.Procs = 1
	}
	switch {
	case s.Procs < p.Max && cores >= p.Up*float64(s.Procs):
		return State{Procs: s.Procs + 1}
	case s.Procs > 1 && cores <= p.Down*float64(s.Procs-1):
		if s.calm+1 >= p.Calm {
			return State{Procs: s.Procs - 1}
		}
		return State{Procs: s.Procs, calm: s.calm + 1}
	}
	return State{Procs: s.Procs}
}

// Start puts the process on one P and, until ctx ends, moves GOMAXPROCS by
// p every interval. Where the process's CPU time cannot be read, it stays on
// one P.
func Start(ctx context.Context, p Policy) {
	runtime.GOMAXPROCS(1)
	before, ok := cpuTime()
	if !ok || p.Max <= 1 {
		return
	}
	go follow(ctx, p, before)
}

func follow(ctx context.Context, p Policy, before time.Duration) {
	logger := klog.FromContext(ctx)
	s := State{Procs: 1}
	at := time.Now()
	tick := time.NewTicker(Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		used, _ := cpuTime()
		now := time.Now() // not Every: a busy P delays the tick too
		cores := float64(used-before) / float64(now.Sub(at))
		next := p.Next(s, cores)
		if next.Procs != s.Procs {
			runtime.GOMAXPROCS(next.Procs)
			logger.V(2).Info("Changed the number of Ps", "procs", next.Procs, "cores", cores)
		}
		s, before, at = next, used, now
	}
}
