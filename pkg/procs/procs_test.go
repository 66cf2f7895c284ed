package procs

import (
	"context"
	"slices"
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
		if s.Procs > procs && cores < p.Up*float64(procs) {
			t.Fatalf("added a P at %.2f cores on %d", cores, procs)
		}
		if s.Procs < procs && (cores > p.Down*float64(procs-1) || calm+1 < p.Calm) {
			t.Fatalf("dropped to %d Ps at %.2f cores after %d calm intervals", s.Procs, cores, calm)
		}
	})
}

// TestFollow runs the loop on a meter of its own: the Ps it sets follow
// the CPU time read at each tick, over the wall time since the last.
func TestFollow(t *testing.T) {
	p := Policy{Max: 2, Up: 0.8, Down: 0.5, Calm: 3}
	for _, tc := range []struct {
		name  string
		cores []float64       // used in each interval
		fail  int             // the interval (from 1) whose CPU time cannot be read; 0 for none
		wall  []time.Duration // each interval's length, if not Every
		want  []int           // the Ps set, in order
	}{
		{name: "idle", cores: []float64{0.1, 0.2, 0.1}},
		{name: "a burst and its end", cores: []float64{0.1, 0.95, 1.6, 1.2, 0.3, 0.2, 0.1}, want: []int{2, 1}},
		{name: "a short lull keeps the second P", cores: []float64{0.9, 0.3, 0.3, 1.0, 0.3}, want: []int{2}},
		{name: "an unreadable interval is skipped", cores: []float64{0.2, 0.9, 0.2}, fail: 2, want: nil},
		// A late tick, then the next one due at once: 2 ms of CPU in 5 µs
		// is read with the interval after it (22 ms in 100.005 ms).
		{name: "a very short interval is read with the next", cores: []float64{0.2, 400, 0.2},
			wall: []time.Duration{Every, 5 * time.Microsecond, Every}, want: nil},
		{name: "a short interval that ends a burst still counts", cores: []float64{0.2, 1, 1},
			wall: []time.Duration{Every, 5 * time.Microsecond, Every}, want: []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				clock time.Time
				cpu   time.Duration
				reads int
				set   []int
			)
			m := meter{
				cpu: func() (time.Duration, bool) {
					if reads > 0 && reads <= len(tc.cores) {
						wall := Every
						if tc.wall != nil {
							wall = tc.wall[reads-1]
						}
						cpu += time.Duration(tc.cores[reads-1] * float64(wall))
						clock = clock.Add(wall)
					}
					reads++
					return cpu, reads-1 != tc.fail
				},
				now: func() time.Time { return clock },
				set: func(n int) { set = append(set, n) },
			}
			tick := make(chan time.Time)
			done := make(chan struct{})
			go func() {
				defer close(done)
				m.follow(context.Background(), p, tick)
			}()
			for range tc.cores {
				tick <- time.Time{}
			}
			close(tick)
			<-done
			if !slices.Equal(set, tc.want) {
				t.Errorf("set %v, want %v", set, tc.want)
			}
		})
	}
}

// TestFollowStopsWithItsContext: no change after the context ends, even
// for a tick already taken.
func TestFollowStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var clock time.Time
	var cpu time.Duration
	reads := 0
	m := meter{
		cpu: func() (time.Duration, bool) {
			if reads++; reads > 1 { // the first is follow's start
				clock, cpu = clock.Add(Every), cpu+Every // fully busy
				cancel()                                 // as if it ended while reading
			}
			return cpu, true
		},
		now: func() time.Time { return clock },
		set: func(n int) { t.Errorf("set %d Ps after the context ended", n) },
	}
	tick := make(chan time.Time, 1)
	tick <- time.Time{}
	m.follow(ctx, Policy{Max: 2, Up: 0.8, Down: 0.5, Calm: 3}, tick)
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1) // no overflow at the smallest int
	}
	return n
}
