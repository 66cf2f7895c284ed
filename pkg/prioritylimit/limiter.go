// Package prioritylimit is a client-side rate limiter for client-go that
// hands out its tokens by priority rather than first come, first served.
//
// The priority queue decides which DaemonSet a free worker syncs next, but
// once several syncs are in flight their requests meet again in the
// client's rate limiter. With client-go's own limiter a CNI DaemonSet's pod
// for a new node waits behind every create already queued by a logging
// DaemonSet. Here a request made with WithPriority(ctx, p) is granted its
// token before any waiting request of lower priority; equal priorities
// keep their order. The overall rate (QPS and burst) is unchanged.
package prioritylimit

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

type priorityKey struct{}

// WithPriority returns a context whose API requests are served at priority
// p. Requests made without one are served at priority 0, the priority of
// pods without a PriorityClass.
func WithPriority(ctx context.Context, p int64) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// Priority returns the priority set by WithPriority, else 0.
func Priority(ctx context.Context) int64 {
	p, _ := ctx.Value(priorityKey{}).(int64)
	return p
}

// Limiter is a token bucket (qps tokens a second, at most burst saved) whose
// waiters are granted tokens highest priority first. It implements
// k8s.io/client-go/util/flowcontrol.RateLimiter.
type Limiter struct {
	qps   float64
	burst float64
	batch float64 // tokens granted together to a queue (see grantEvery)
	now   func() time.Time

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	waiters waiters
	seq     uint64
	timer   *time.Timer
	stopped bool
}

// New returns a Limiter that starts with a full bucket.
func New(qps float32, burst int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	batch := max(1, min(float64(burst), math.Floor(float64(qps)*grantEvery.Seconds())))
	return &Limiter{qps: float64(qps), burst: float64(burst), batch: batch, tokens: float64(burst), now: time.Now, last: time.Now()}
}

// grantEvery is how often, at most, a queue of requests is granted tokens.
// At the client's limit a token comes every 1/qps (50 ms at the default QPS
// of 20), and each grant wakes the process from idle, sends one request and
// spreads its answer and the watch events it causes over its own wake-ups:
// each costs the runtime more than the work it brings. Granting a queue
// qps*grantEvery tokens at a time keeps the rate and the burst, halves
// those wake-ups at the default QPS, and delays a queued request by less
// than grantEvery. A lone request still goes as soon as one token is free.
const grantEvery = 100 * time.Millisecond

// Wait blocks until the request may be sent, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return ErrStopped
	}
	l.refill()
	if len(l.waiters) == 0 && l.tokens >= 1 {
		l.tokens--
		l.mu.Unlock()
		return nil
	}
	l.seq++
	w := &waiter{priority: Priority(ctx), seq: l.seq, ready: make(chan struct{})}
	heap.Push(&l.waiters, w)
	l.schedule()
	l.mu.Unlock()

	select {
	case <-w.ready:
		if w.refused {
			return ErrStopped
		}
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		if w.index < 0 { // granted while ctx ended: give the token back
			if !w.refused {
				l.tokens = min(l.tokens+1, l.burst)
				l.dispatch()
			}
			return ctx.Err()
		}
		heap.Remove(&l.waiters, w.index)
		return ctx.Err()
	}
}

// ErrStopped is what requests get from a stopped limiter.
var ErrStopped = errors.New("client rate limiter stopped: no more API requests from this process")

// Accept blocks until the request may be sent (at once if stopped).
func (l *Limiter) Accept() { _ = l.Wait(context.Background()) }

// TryAccept takes a token if one is free and nobody is waiting for it.
func (l *Limiter) TryAccept() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.refill()
	if len(l.waiters) == 0 && l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}

// QPS returns the sustained rate.
func (l *Limiter) QPS() float32 { return float32(l.qps) }

// Stop ends the limiter: every request waiting for a token, and every
// later one, fails with ErrStopped. A leader that lost its lease stops its
// limiter so that nothing it has queued reaches the API server.
func (l *Limiter) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	for len(l.waiters) > 0 {
		w := heap.Pop(&l.waiters).(*waiter)
		w.refused = true
		close(w.ready)
	}
}

// Waiting returns the number of requests waiting for a token.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// Short reports whether the client is at its rate: requests wait for a
// token, or the bucket is less than half full (it has sent more than its
// QPS refills over the last burst/2qps seconds, 0.75 s at QPS 20 and
// burst 30). A client that sends a request now and then never is.
func (l *Limiter) Short() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	return len(l.waiters) > 0 || l.tokens < l.burst/2
}

func (l *Limiter) refill() {
	now := l.now()
	if elapsed := now.Sub(l.last).Seconds(); elapsed > 0 {
		l.tokens += elapsed * l.qps
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
}

// dispatch grants the free tokens to the most urgent waiters, then arms
// the timer for the next token if anyone is left.
func (l *Limiter) dispatch() {
	l.refill()
	for len(l.waiters) > 0 && l.tokens >= 1 {
		l.tokens--
		close(heap.Pop(&l.waiters).(*waiter).ready)
	}
	l.schedule()
}

func (l *Limiter) schedule() {
	if len(l.waiters) == 0 || l.stopped {
		return
	}
	if l.qps <= 0 { // no rate: nothing to wait for
		l.tokens = l.burst
		for len(l.waiters) > 0 {
			close(heap.Pop(&l.waiters).(*waiter).ready)
		}
		return
	}
	wait := l.untilGrant()
	if l.timer == nil {
		l.timer = time.AfterFunc(wait, l.tick)
		return
	}
	l.timer.Reset(wait)
}

// untilGrant is how long until the bucket holds the tokens for the next
// grant: one per waiter, up to a batch. Rounded up, so that the timer
// never fires a nanosecond short of a whole batch and grants one less.
func (l *Limiter) untilGrant() time.Duration {
	need := min(float64(len(l.waiters)), l.batch)
	return time.Duration(math.Ceil((need - l.tokens) / l.qps * float64(time.Second)))
}

func (l *Limiter) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.dispatch()
	}
}

type waiter struct {
	priority int64
	seq      uint64
	refused  bool // by Stop
	index    int  // in the heap; -1 once granted or removed
	ready    chan struct{}
}

type waiters []*waiter

func (h waiters) Len() int { return len(h) }
func (h waiters) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
