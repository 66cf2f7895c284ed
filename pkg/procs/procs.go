// Package procs decides how many Ps (threads running Go code at once) the
// controller runs on. Its work is mostly waiting on the API server, and on
// two cores a second P then costs more CPU than it saves time: threads wake
// and spin for each other (on 2026-11-30 a 3,000-node rollout at the
// default limits took 6.1 to 6.2 s of CPU on two Ps, 5.1 to 6.3 s, mean
// 5.6, on one; docs/benchmarks). But when 100 nodes join under 20 DaemonSets,
// decoding their events and syncing keeps one P busy, and the most urgent
// pods wait for it (the critical pods' last one 1.5 to 2.4 s after its node
// turned Ready on one P, about 1 s on two). So the controller runs on one P
// while that P has time to spare, and adds one while a burst keeps them all
// busy.
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
// second (Every) sees a burst before most of its work has queued, and 30
// quiet intervals (3 s) end it.
var Default = Policy{Up: 0.8, Down: 0.5, Calm: 30}

// Every is how often the process's CPU time is read.
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
// one P. Setting GOMAXPROCS ends the runtime's own updates of it (Go 1.25
// and later follow a changed CPU limit): p.Max stays as given.
func Start(ctx context.Context, p Policy) {
	runtime.GOMAXPROCS(1)
	if _, ok := cpuTime(); !ok || p.Max <= 1 {
		return
	}
	m := meter{cpu: cpuTime, now: time.Now, set: func(n int) { runtime.GOMAXPROCS(n) }}
	tick := time.NewTicker(Every)
	go func() {
		defer tick.Stop()
		m.follow(ctx, p, tick.C)
	}()
}

// meter is what follow reads and sets: the process's in Start, a test's
// own in tests.
type meter struct {
	cpu func() (time.Duration, bool)
	now func() time.Time
	set func(procs int)
}

// follow sets the Ps after each tick until ctx ends or tick is closed. The
// process is on one P when it starts.
func (m meter) follow(ctx context.Context, p Policy, tick <-chan time.Time) {
	logger := klog.FromContext(ctx)
	s := State{Procs: 1}
	before, _ := m.cpu()
	at := m.now()
	for {
		select {
		case <-ctx.Done():
			return
		case _, open := <-tick:
			if !open {
				return
			}
		}
		used, ok := m.cpu()
		now := m.now() // not Every: a busy P delays the tick too
		// A tick taken late leaves the next one already due: an interval
		// of microseconds, whose ratio says nothing (a few milliseconds of
		// CPU over 5 µs read as 298 cores and added a P). Such an interval
		// is read together with the next.
		if !ok || now.Sub(at) < Every/2 || ctx.Err() != nil {
			continue
		}
		cores := float64(used-before) / float64(now.Sub(at))
		next := p.Next(s, cores)
		if next.Procs != s.Procs {
			m.set(next.Procs)
			logger.V(2).Info("Changed the number of Ps", "procs", next.Procs, "cores", cores)
		}
		s, before, at = next, used, now
	}
}
