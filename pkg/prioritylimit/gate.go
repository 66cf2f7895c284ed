package prioritylimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Gate lets work of lower priority hold back while work of higher priority
// is under way. The Limiter orders requests only while tokens are short; at
// raised client limits they never are, and a CNI DaemonSet's creations for
// a new node would meet every other DaemonSet's in the API server, in
// arrival order. A sync creating pods holds the gate at its priority and,
// before each creation, waits while a sync of higher priority holds it.
// Work of higher priority never waits for lower, so nothing deadlocks, and
// every hold ends when its creations have returned (a sync may leave them
// in flight when it ends; see the controller's createPods).
type Gate struct {
	mu      sync.Mutex
	held    map[int64]int
	since   time.Time     // when the last hold was taken while none was
	changed chan struct{} // closed, and replaced, when a hold ends
}

// NewGate returns a gate nobody holds.
func NewGate() *Gate {
	return &Gate{held: map[int64]int{}, changed: make(chan struct{})}
}

// Hold marks work at priority p as under way until release is called.
func (g *Gate) Hold(p int64) (release func()) {
	g.mu.Lock()
	if len(g.held) == 0 {
		g.since = time.Now()
	}
	g.held[p]++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.held[p]--; g.held[p] == 0 {
				delete(g.held, p)
			}
			close(g.changed)
			g.changed = make(chan struct{})
		})
	}
}

// Look returns the highest priority of the work under way (math.MinInt64
// if none) and, taken with it, a channel closed when a hold ends: a caller
// that decides on the top waits on it to decide again, and no hold can end
// unseen between the two.
func (g *Gate) Look() (top int64, changed <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	top = math.MinInt64
	for q := range g.held {
		top = max(top, q)
	}
	return top, g.changed
}

// BusySince returns when the gate was last taken by work while it was
// free, if any work holds it now.
func (g *Gate) BusySince() (since time.Time, busy bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.since, len(g.held) > 0
}

// Wait blocks while work of priority above p is under way, or until ctx
// ends. It reports whether such work is still under way.
func (g *Gate) Wait(ctx context.Context, p int64) bool {
	for {
		top, changed := g.Look()
		if top <= p {
			return false
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return true
		}
	}
}
