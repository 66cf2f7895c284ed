package expectations

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// clock is a settable clock for the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newStore() (*Store, *clock) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(time.Minute, c.Now), c
}

// nodes returns n node names: n0, n1, ...
func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i)
	}
	return out
}

func checkPending(t *testing.T, s *Store, key string, creations, deletions int) {
	t.Helper()
	if c, d := s.Pending(key); c != creations || d != deletions {
		t.Errorf("Pending(%q) = (%d, %d), want (%d, %d)", key, c, d, creations, deletions)
	}
}

func TestUnknownKeyIsSatisfied(t *testing.T) {
	s, _ := newStore()
	if !s.Satisfied("ns/ds") {
		t.Error("a key with no expectations is not satisfied")
	}
	checkPending(t, s, "ns/ds", 0, 0)
	// Observations for unknown keys are no-ops.
	s.CreationObserved("ns/ds", "n1")
	s.DeletionObserved("ns/ds", "u1")
	s.CreationsSkipped("ns/ds", nodes(3))
	if _, ok := s.CreatingOn("ns/ds"); ok {
		t.Error("CreatingOn an unknown key")
	}
	checkPending(t, s, "ns/ds", 0, 0)
	if !s.Satisfied("ns/ds") {
		t.Error("observations created expectations")
	}
}

func TestExpectAndObserve(t *testing.T) {
	tests := []struct {
		name      string
		creations int
		deletions []types.UID
		observe   func(s *Store, key string)
		wantC     int
		wantD     int
		satisfied bool
	}{
		{"nothing expected", 0, nil, func(*Store, string) {}, 0, 0, true},
		{"creations outstanding", 3, nil, func(s *Store, k string) { s.CreationObserved(k, "n0") }, 2, 0, false},
		{"all creations observed", 2, nil, func(s *Store, k string) { s.CreationObserved(k, "n1"); s.CreationObserved(k, "n0") }, 0, 0, true},
		{"extra creation observed does not go negative", 1, nil, func(s *Store, k string) {
			s.CreationObserved(k, "n0")
			s.CreationObserved(k, "n0")
		}, 0, 0, true},
		{"a creation observed on another node still counts", 1, nil, func(s *Store, k string) { s.CreationObserved(k, "elsewhere") }, 0, 0, true},
		{"CreationsSkipped", 5, nil, func(s *Store, k string) { s.CreationsSkipped(k, nodes(3)) }, 2, 0, false},
		{"CreationsSkipped below zero stops at zero", 2, nil, func(s *Store, k string) { s.CreationsSkipped(k, nodes(7)) }, 0, 0, true},
		{"deletions outstanding", 0, []types.UID{"a", "b"}, func(s *Store, k string) { s.DeletionObserved(k, "a") }, 0, 1, false},
		{"all deletions observed", 0, []types.UID{"a", "b"}, func(s *Store, k string) {
			s.DeletionObserved(k, "b")
			s.DeletionObserved(k, "a")
		}, 0, 0, true},
		{"deletion of another pod changes nothing", 0, []types.UID{"a"}, func(s *Store, k string) { s.DeletionObserved(k, "zzz") }, 0, 1, false},
		{"same deletion observed twice counts once", 0, []types.UID{"a", "b"}, func(s *Store, k string) {
			s.DeletionObserved(k, "a")
			s.DeletionObserved(k, "a")
		}, 0, 1, false},
		{"duplicate UIDs are one deletion", 0, []types.UID{"a", "a"}, func(s *Store, k string) { s.DeletionObserved(k, "a") }, 0, 0, true},
		{"creations and deletions both needed", 1, []types.UID{"a"}, func(s *Store, k string) { s.CreationObserved(k, "n0") }, 0, 1, false},
		{"creations and deletions all observed", 1, []types.UID{"a"}, func(s *Store, k string) {
			s.DeletionObserved(k, "a")
			s.CreationObserved(k, "n0")
		}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			const key = "ns/ds"
			s.Expect(key, nodes(tt.creations), tt.deletions)
			tt.observe(s, key)
			checkPending(t, s, key, tt.wantC, tt.wantD)
			if got := s.Satisfied(key); got != tt.satisfied {
				t.Errorf("Satisfied() = %v, want %v", got, tt.satisfied)
			}
		})
	}
}

// TestExpectAddsWhileWaiting: expectations made while earlier ones are
// outstanding add to them; met or expired ones are replaced.
func TestExpectAddsWhileWaiting(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", []string{"a", "b"}, []types.UID{"x"})
	s.Expect("k", []string{"c"}, []types.UID{"y"})
	checkPending(t, s, "k", 3, 2)

	// Met: replaced.
	s.CreationsSkipped("k", []string{"a", "b", "c"})
	s.DeletionObserved("k", "x")
	s.DeletionObserved("k", "y")
	s.Expect("k", []string{"d"}, nil)
	checkPending(t, s, "k", 1, 0)
	if nodes, _ := s.CreatingOn("k"); !reflect.DeepEqual(nodes, map[string]bool{"d": true}) {
		t.Errorf("CreatingOn = %v after met expectations were replaced, want only d", nodes)
	}

	// Expired: replaced, and the clock restarts.
	clk.Advance(time.Minute + time.Nanosecond)
	s.Expect("k", []string{"e"}, nil)
	checkPending(t, s, "k", 1, 0)
	if nodes, ok := s.CreatingOn("k"); !ok || !reflect.DeepEqual(nodes, map[string]bool{"e": true}) {
		t.Errorf("CreatingOn = %v, %v after expired expectations were replaced, want only e", nodes, ok)
	}
	s.CreationObserved("k", "e")
	if !s.Satisfied("k") {
		t.Error("not satisfied after the replacing expectations were met")
	}
}

// TestCreatingOn: the nodes of unobserved creations are named only while
// creations are all a key waits for.
func TestCreatingOn(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", []string{"a", "b", "c"}, nil)
	s.CreationObserved("k", "a")
	s.CreationsSkipped("k", []string{"c"})
	nodes, ok := s.CreatingOn("k")
	if want := map[string]bool{"b": true}; !ok || !reflect.DeepEqual(nodes, want) {
		t.Fatalf("CreatingOn = %v, %v; want %v, true", nodes, ok, want)
	}
	nodes["z"] = true // a copy: the caller may not change the store
	if again, _ := s.CreatingOn("k"); again["z"] {
		t.Error("CreatingOn handed out the store's own set")
	}

	s.Expect("k", nil, []types.UID{"x"})
	if _, ok := s.CreatingOn("k"); ok {
		t.Error("CreatingOn while a deletion is outstanding")
	}
	s.DeletionObserved("k", "x")
	if _, ok := s.CreatingOn("k"); !ok {
		t.Error("not CreatingOn once only creations are left")
	}

	clk.Advance(time.Minute + time.Nanosecond)
	if _, ok := s.CreatingOn("k"); ok {
		t.Error("CreatingOn after the expectations expired: a full sync is due")
	}

	s.Expect("m", []string{"a"}, nil)
	s.CreationObserved("m", "a")
	if _, ok := s.CreatingOn("m"); ok {
		t.Error("CreatingOn with nothing outstanding")
	}
}

func TestKeysAreIndependent(t *testing.T) {
	s, _ := newStore()
	s.Expect("a", []string{"n"}, nil)
	s.Expect("b", nil, []types.UID{"x"})
	s.CreationObserved("b", "n")
	s.DeletionObserved("a", "x")
	checkPending(t, s, "a", 1, 0)
	checkPending(t, s, "b", 0, 1)
}

func TestTTL(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", []string{"n"}, []types.UID{"a"})
	clk.Advance(time.Minute)
	if s.Satisfied("k") {
		t.Error("satisfied exactly at the TTL; want only after it")
	}
	clk.Advance(time.Nanosecond)
	if !s.Satisfied("k") {
		t.Error("not satisfied after the TTL expired")
	}
	// Expiry does not pretend the work was observed.
	checkPending(t, s, "k", 1, 1)

	// New expectations restart the clock.
	s.Expect("k", []string{"n"}, nil)
	if s.Satisfied("k") {
		t.Error("fresh expectations are satisfied")
	}
	clk.Advance(30 * time.Second)
	if s.Satisfied("k") {
		t.Error("satisfied before the TTL of the fresh expectations")
	}
}

func TestObservationsDoNotExtendTTL(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", nodes(3), nil)
	clk.Advance(50 * time.Second)
	s.CreationObserved("k", "n0")
	clk.Advance(11 * time.Second)
	if !s.Satisfied("k") {
		t.Error("an observation reset the TTL")
	}
}

func TestForget(t *testing.T) {
	s, _ := newStore()
	s.Expect("k", nodes(2), []types.UID{"a"})
	s.Forget("k")
	if !s.Satisfied("k") {
		t.Error("not satisfied after Forget")
	}
	checkPending(t, s, "k", 0, 0)
	s.Forget("never-seen") // no panic
}

func TestDefaults(t *testing.T) {
	if DefaultTTL != 5*time.Minute {
		t.Errorf("DefaultTTL = %v, want 5m as upstream", DefaultTTL)
	}
	s := New(DefaultTTL, nil) // nil clock means time.Now
	s.Expect("k", nodes(1), nil)
	if s.Satisfied("k") {
		t.Error("satisfied right after Expect with the real clock")
	}
}

// TestConcurrentUse is meant for -race: informer handlers observe while
// workers expect, check and forget.
func TestConcurrentUse(t *testing.T) {
	s, clk := newStore()
	const keys, perKey = 8, 50
	for k := range keys {
		uids := make([]types.UID, perKey)
		for i := range uids {
			uids[i] = types.UID(fmt.Sprintf("%d-%d", k, i))
		}
		s.Expect(fmt.Sprint(k), nodes(perKey), uids)
	}
	var wg sync.WaitGroup
	for k := range keys {
		key := fmt.Sprint(k)
		for i := range perKey {
			wg.Go(func() { s.CreationObserved(key, fmt.Sprintf("n%d", i)); s.CreatingOn(key) })
			wg.Go(func() { s.DeletionObserved(key, types.UID(fmt.Sprintf("%d-%d", k, i))) })
			wg.Go(func() { s.Satisfied(key); s.Pending(key) })
		}
	}
	wg.Go(func() { clk.Advance(time.Second) })
	wg.Go(func() { s.Expect("other", nodes(1), nil); s.CreationsSkipped("other", nodes(1)); s.Forget("other") })
	wg.Wait()
	for k := range keys {
		checkPending(t, s, fmt.Sprint(k), 0, 0)
		if !s.Satisfied(fmt.Sprint(k)) {
			t.Errorf("key %d not satisfied after every observation", k)
		}
	}
}
