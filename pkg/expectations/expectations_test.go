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
	checkPending(t, s, "ns/ds", 0, 0)
	if !s.Satisfied("ns/ds") {
		t.Error("observations created expectations")
	}
	if _, ok := s.CreatingOn("ns/ds"); ok {
		t.Error("CreatingOn an unknown key")
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
		{"same creation observed twice counts once", 2, nil, func(s *Store, k string) {
			s.CreationObserved(k, "n0")
			s.CreationObserved(k, "n0")
		}, 1, 0, false},
		// Another controller's pod (or an adopted one) says nothing about ours.
		{"a pod on a node not expected changes nothing", 1, nil, func(s *Store, k string) { s.CreationObserved(k, "elsewhere") }, 1, 0, false},
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

// TestExpectAdds: expectations add to the ones outstanding.
func TestExpectAdds(t *testing.T) {
	s, _ := newStore()
	s.Expect("k", []string{"a", "b"}, []types.UID{"x"})
	s.Expect("k", []string{"c", "a"}, []types.UID{"y"})
	checkPending(t, s, "k", 3, 2)
	for _, n := range []string{"a", "b", "c"} {
		s.CreationObserved("k", n)
	}
	s.DeletionObserved("k", "x")
	s.DeletionObserved("k", "y")
	if !s.Satisfied("k") {
		t.Error("not satisfied once everything expected was observed")
	}
}

// TestCreatingOn: the nodes of unobserved creations are named only while
// creations are all a key waits for.
func TestCreatingOn(t *testing.T) {
	s, _ := newStore()
	s.Expect("k", []string{"a", "b"}, nil)
	s.CreationObserved("k", "a")
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
	s.CreationObserved("k", "b")
	if _, ok := s.CreatingOn("k"); ok {
		t.Error("CreatingOn with nothing outstanding")
	}
}

// TestTTLPerItem: each expectation expires on its own clock, so one never
// observed stops blocking after the TTL however many are added after it.
func TestTTLPerItem(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", []string{"lost"}, []types.UID{"gone"})
	for range 6 {
		clk.Advance(15 * time.Second)
		s.Expect("k", []string{"fresh"}, nil) // a creation every 15 s
		s.CreationObserved("k", "fresh")
	}
	// 90 s after them, "lost" and "gone" have expired; nothing else is left.
	if !s.Satisfied("k") {
		t.Fatalf("a lost creation and deletion still block the key after the TTL: pending %v", fmt.Sprint(s.Pending("k")))
	}

	s.Expect("k", []string{"a"}, nil)
	clk.Advance(40 * time.Second)
	s.Expect("k", []string{"b"}, nil)
	clk.Advance(21 * time.Second) // a: 61 s, b: 21 s
	if nodes, ok := s.CreatingOn("k"); !ok || !reflect.DeepEqual(nodes, map[string]bool{"b": true}) {
		t.Errorf("CreatingOn = %v, %v; want only b, whose creation is 21 s old", nodes, ok)
	}
	clk.Advance(30 * time.Second)
	s.Expect("k", []string{"b"}, nil) // expected again: its clock restarts
	clk.Advance(50 * time.Second)
	if s.Satisfied("k") {
		t.Error("an expectation renewed 50 s ago expired with a TTL of 1 min")
	}
	clk.Advance(10*time.Second + time.Nanosecond)
	if !s.Satisfied("k") {
		t.Error("not satisfied after the TTL of the renewed expectation")
	}
}

func TestTTLBoundary(t *testing.T) {
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
	checkPending(t, s, "k", 0, 0)
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

func TestTotal(t *testing.T) {
	s, clk := newStore()
	s.Expect("a", nodes(2), []types.UID{"x"})
	clk.Advance(40 * time.Second)
	s.Expect("b", nodes(3), nil)
	if c, d := s.Total(); c != 5 || d != 1 {
		t.Errorf("Total = (%d, %d), want (5, 1)", c, d)
	}
	clk.Advance(30 * time.Second) // a's have expired
	if c, d := s.Total(); c != 3 || d != 0 {
		t.Errorf("Total = (%d, %d), want (3, 0) once a's expired", c, d)
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
			wg.Go(func() { s.Satisfied(key); s.Pending(key); s.Total() })
		}
	}
	wg.Go(func() { clk.Advance(time.Second) })
	wg.Go(func() { s.Expect("other", nodes(1), nil); s.CreationObserved("other", "n0"); s.Forget("other") })
	wg.Wait()
	for k := range keys {
		checkPending(t, s, fmt.Sprint(k), 0, 0)
		if !s.Satisfied(fmt.Sprint(k)) {
			t.Errorf("key %d not satisfied after every observation", k)
		}
	}
}
