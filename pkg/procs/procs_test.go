package procs

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	p := Policy{Max: 3, Up: 0.8, Down: 0.5, Calm: 3}
	for _, tc := range []struct {
		name  string
		procs int
		cores []float64 // one per interval
		want  int
	}{
		{name: "idle stays on one", procs: 1, cores: []float64{0, 0.1, 0.3}, want: 1},
		{name: "one busy P adds one", procs: 1, cores: []float64{0.85}, want: 2},
		{name: "just under the line stays", procs: 1, cores: []float64{0.79}, want: 1},
		{name: "two busy Ps add a third", procs: 2, cores: []float64{1.7}, want: 3},
		{name: "never above max", procs: 3, cores: []float64{3, 3}, want: 3},
		{name: "a burst climbs one P per interval", procs: 1, cores: []float64{1, 1.9}, want: 3},
		{name: "quiet for calm intervals drops one", procs: 2, cores: []float64{0.2, 0.2, 0.2}, want: 1},
		{name: "quiet for fewer stays", procs: 2, cores: []float64{0.2, 0.2}, want: 2},
		{name: "a busy interval restarts the calm", procs: 2, cores: []float64{0.2, 0.2, 0.7, 0.2, 0.2}, want: 2},
		{name: "a spike between calm ones restarts it too", procs: 2, cores: []float64{0.2, 0.2, 1.7, 0.2}, want: 3},
		{name: "between the lines holds", procs: 2, cores: []float64{0.6, 0.6, 0.6, 0.6}, want: 2},
		{name: "drops one P at a time", procs: 3, cores: []float64{0, 0, 0, 0, 0}, want: 2},
		{name: "a zero state starts at one", procs: 0, cores: []float64{0}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := State{Procs: tc.procs}
			for _, c := range tc.cores {
				s = p.Next(s, c)
			}
			if s.Procs != tc.want {
				t.Errorf("%d Ps, want %d", s.Procs, tc.want)
			}
		})
	}
}

// FuzzNext checks what must hold for any load: the Ps stay within 1..Max,
// move by at most one per interval, and never drop while the Ps are busy.
func FuzzNext(f *testing.F) {
	f.Add(2, 1, 0.9, 0)
	f.Add(4, 3, 0.1, 29)
	f.Fuzz(func(t *testing.T, max, procs int, cores float64, calm int) {
		max = 1 + abs(max)%64
		procs = 1 + abs(procs)%max
		calm = abs(calm) % 64
		if !(cores >= 0) { // NaN too
			cores = 0
		}
		p := Default
		p.Max = max
		s := p.Next(State{Procs: procs, calm: calm}, cores)
		if s.Procs < 1 || s.Procs > max {
			t.Fatalf("%d Ps outside 1..%d", s.Procs, max)
		}
		if d := s.Procs - procs; d > 1 || d < -1 {
			t.Fatalf("moved from %d to %d Ps", procs, s.Procs)
		}
		if s.Procs < procs && cores > p.Down*float64(procs) {
			t.Fatalf("dropped to %d Ps at %.2f cores", s.Procs, cores)
		}
	})
}

// TestStartFollowsLoad runs the real loop on this process: it adds a P while
// goroutines burn CPU and drops it once they stop.
func TestStartFollowsLoad(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Start(ctx, Policy{Max: 2, Up: 0.8, Down: 0.5, Calm: 3})
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("started on %d Ps, want 1", n)
	}

	var stop atomic.Bool
	for range 2 {
		go func() {
			for !stop.Load() {
			}
		}()
	}
	waitFor(t, "a second P under load", func() bool { return runtime.GOMAXPROCS(0) == 2 })
	stop.Store(true)
	waitFor(t, "one P once idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s within 20 s", what)
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1) // no overflow at the smallest int
	}
	return n
}
