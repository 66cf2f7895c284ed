package prioritylimit

import (
	"container/heap"
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

var _ flowcontrol.RateLimiter = &Limiter{}

// queueUp starts one Wait per priority, each only once the previous one is
// queued, and returns the order in which they were granted.
func queueUp(t *testing.T, l *Limiter, prios []int64) []int64 {
	t.Helper()
	return queueUpWith(t, l, prios, l.Wait)
}

// queueUpWith is queueUp with wait in place of l.Wait (a request through
// l's transport, say), called with each priority's context.
func queueUpWith(t *testing.T, l *Limiter, prios []int64, wait func(context.Context) error) []int64 {
	t.Helper()
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for i, p := range prios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wait(WithPriority(context.Background(), p)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, p)
			mu.Unlock()
		}()
		waitFor(t, func() bool { return l.Waiting() == i+1 })
	}
	wg.Wait()
	return got
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// drain empties the bucket so that the next Wait has to queue.
func drain(l *Limiter) {
	for l.TryAccept() {
	}
}

func TestHigherPriorityFirst(t *testing.T) {
	// Five waiters queue while the bucket is in debt; then they are
	// granted one by one.
	l := New(5, 1)
	defer l.Stop()
	drain(l)
	l.mu.Lock()
	l.tokens = -2 // hold the next token back 600 ms
	l.mu.Unlock()
	got := queueUp(t, l, []int64{0, 100, 0, 2000001000, -5})
	if want := []int64{2000001000, 100, 0, 0, -5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("granted %v, want %v", got, want)
	}
}

func TestEqualPriorityKeepsOrder(t *testing.T) {
	l := New(1000, 1)
	defer l.Stop()
	drain(l)
	l.mu.Lock()
	l.tokens = -500
	l.mu.Unlock()
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Wait(context.Background())
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		}()
		waitFor(t, func() bool { return l.Waiting() == i+1 })
	}
	wg.Wait()
	if want := []int{0, 1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("granted %v, want %v", got, want)
	}
}

func TestBurstThenRate(t *testing.T) {
	l := New(10, 3)
	defer l.Stop()
	for i := range 3 {
		if !l.TryAccept() {
			t.Fatalf("token %d of the burst refused", i)
		}
	}
	if l.TryAccept() {
		t.Fatal("a fourth token straight after a burst of 3")
	}
	// Not a timing assertion: the next token must come, whenever it does.
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.QPS() != 10 {
		t.Fatalf("QPS %v", l.QPS())
	}
}

func TestRateIsKept(t *testing.T) {
	// A fake clock: tokens accrue only as it moves.
	now := time.Unix(0, 0)
	l := New(2, 2)
	l.now = func() time.Time { return now }
	l.last = now
	l.tokens = 0
	for _, step := range []struct {
		advance time.Duration
		want    bool
	}{{0, false}, {400 * time.Millisecond, false}, {100 * time.Millisecond, true}, {0, false}, {2 * time.Second, true}, {0, true}, {0, false}} {
		now = now.Add(step.advance)
		if got := l.TryAccept(); got != step.want {
			t.Fatalf("after %v: TryAccept %v, want %v", step.advance, got, step.want)
		}
	}
}

// TestShort: the limiter is short once half its burst is spent faster than
// the rate refills it, and again once it has refilled; and while anyone
// waits for a token.
func TestShort(t *testing.T) {
	var clock atomic.Int64 // the limiter's timer reads it too
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	l := New(20, 30)
	defer l.Stop()
	l.now = func() time.Time { return time.Unix(0, clock.Load()) }
	l.last = l.now()
	for i := range 16 {
		if l.Short() {
			t.Fatalf("short after %d of a burst of 30", i)
		}
		l.TryAccept()
	}
	if !l.Short() {
		t.Fatal("not short with 14 of 30 tokens left")
	}
	advance(50 * time.Millisecond) // one token back
	if l.Short() {
		t.Fatal("short with 15 of 30 tokens")
	}
	for l.TryAccept() {
	}
	done := make(chan error)
	go func() { done <- l.Wait(context.Background()) }()
	waitFor(t, func() bool { return l.Waiting() == 1 })
	l.mu.Lock()
	l.timer.Stop() // the grant is the test's own l.tick below
	l.mu.Unlock()
	advance(time.Second) // 20 tokens, one owed to the waiter
	if !l.Short() {
		t.Fatal("not short while a request waits")
	}
	l.tick()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Short() {
		t.Fatal("short with 19 of 30 tokens and nobody waiting")
	}
}

func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	l := New(1, 1)
	defer l.Stop()
	drain(l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	waitFor(t, func() bool { return l.Waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait returned %v, want context.Canceled", err)
	}
	if n := l.Waiting(); n != 0 {
		t.Fatalf("%d waiters left after cancel", n)
	}
}

func TestStopFailsWaitersAndLaterRequests(t *testing.T) {
	l := New(0.001, 1)
	drain(l)
	done := make(chan error)
	go func() { done <- l.Wait(context.Background()) }()
	waitFor(t, func() bool { return l.Waiting() == 1 })
	l.Stop()
	if err := <-done; !errors.Is(err, ErrStopped) {
		t.Fatalf("a waiter got %v from Stop, want ErrStopped", err)
	}
	if err := l.Wait(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wait after Stop returned %v, want ErrStopped", err)
	}
	if l.TryAccept() {
		t.Fatal("TryAccept after Stop took a token")
	}
	l.Accept() // never blocks
}

func TestPriorityDefaultsToZero(t *testing.T) {
	if p := Priority(context.Background()); p != 0 {
		t.Fatalf("priority %d", p)
	}
	if p := Priority(WithPriority(context.Background(), -7)); p != -7 {
		t.Fatalf("priority %d", p)
	}
}

func BenchmarkWaitUncontended(b *testing.B) {
	l := New(1e9, 1e9)
	ctx := WithPriority(context.Background(), 1)
	for b.Loop() {
		_ = l.Wait(ctx)
	}
}

func TestQueueIsGrantedInBatches(t *testing.T) {
	for _, c := range []struct {
		name    string
		qps     float32
		burst   int
		tokens  float64
		waiting int
		want    time.Duration
	}{
		{"a lone request waits for one token", 20, 30, 0, 1, 50 * time.Millisecond},
		{"a queue waits for a batch (QPS 20: two)", 20, 30, 0, 5, 100 * time.Millisecond},
		{"part of a batch already saved", 20, 30, 0.5, 5, 75 * time.Millisecond},
		{"two waiting, batch of two", 20, 30, 0, 2, 100 * time.Millisecond},
		{"a batch never exceeds the burst", 20, 1, 0, 5, 50 * time.Millisecond},
		{"a low QPS grants one at a time", 5, 10, 0, 5, 200 * time.Millisecond},
		{"a high QPS grants up to a tenth of a second's worth", 1000, 2000, 0, 500, 100 * time.Millisecond},
		{"a high QPS, few waiting", 1000, 2000, 0, 3, 3 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := New(c.qps, c.burst)
			l.tokens = c.tokens
			for range c.waiting {
				heap.Push(&l.waiters, &waiter{ready: make(chan struct{})})
			}
			if got := l.untilGrant(); got != c.want {
				t.Fatalf("untilGrant() = %v, want %v", got, c.want)
			}
		})
	}
}

func TestQueueIsGrantedInPairsAtQPS20(t *testing.T) {
	// Four requests queue while the clock stands still, so that no token
	// accrues before all of them wait; then tokens come at 20 a second.
	// Granted a batch at a time, the queue goes from 4 to 2 to 0 waiting:
	// one token at a time, it would pass through 3 and 1.
	var frozen atomic.Bool
	frozen.Store(true)
	start := time.Now()
	l := New(20, 30)
	l.now = func() time.Time {
		if frozen.Load() {
			return start
		}
		return time.Now()
	}
	l.last = start
	defer l.Stop()
	drain(l)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		waitFor(t, func() bool { return l.Waiting() == i+1 })
	}
	l.mu.Lock()
	frozen.Store(false)
	l.last = time.Now()
	l.schedule()
	l.mu.Unlock()
	seen := map[int]bool{}
	waitFor(t, func() bool {
		n := l.Waiting()
		seen[n] = true
		return n == 0
	})
	wg.Wait()
	if seen[3] || seen[1] {
		t.Fatalf("waiting counts seen: %v; want only 4, 2 and 0 (grants in pairs)", seen)
	}
}
