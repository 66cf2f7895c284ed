package expectations

import (
	"fmt"
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
	s.CreationObserved("ns/ds")
	s.DeletionObserved("ns/ds", "u1")
	s.LowerCreations("ns/ds", 3)
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
		{"creations outstanding", 3, nil, func(s *Store, k string) { s.CreationObserved(k) }, 2, 0, false},
		{"all creations observed", 2, nil, func(s *Store, k string) { s.CreationObserved(k); s.CreationObserved(k) }, 0, 0, true},
		{"extra creation observed does not go negative", 1, nil, func(s *Store, k string) {
			s.CreationObserved(k)
			s.CreationObserved(k)
		}, 0, 0, true},
		{"LowerCreations", 5, nil, func(s *Store, k string) { s.LowerCreations(k, 3) }, 2, 0, false},
		{"LowerCreations below zero stops at zero", 2, nil, func(s *Store, k string) { s.LowerCreations(k, 7) }, 0, 0, true},
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
		{"creations and deletions both needed", 1, []types.UID{"a"}, func(s *Store, k string) { s.CreationObserved(k) }, 0, 1, false},
		{"creations and deletions all observed", 1, []types.UID{"a"}, func(s *Store, k string) {
			s.DeletionObserved(k, "a")
			s.CreationObserved(k)
		}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			const key = "ns/ds"
			s.Expect(key, tt.creations, tt.deletions)
			tt.observe(s, key)
			checkPending(t, s, key, tt.wantC, tt.wantD)
			if got := s.Satisfied(key); got != tt.satisfied {
				t.Errorf("Satisfied() = %v, want %v", got, tt.satisfied)
			}
		})
	}
}

func TestExpectReplacesPrevious(t *testing.T) {
	s, _ := newStore()
	s.Expect("k", 5, []types.UID{"a"})
	s.Expect("k", 1, nil)
	checkPending(t, s, "k", 1, 0)
	s.CreationObserved("k")
	if !s.Satisfied("k") {
		t.Error("not satisfied after the replacing expectations were met")
	}
}

func TestKeysAreIndependent(t *testing.T) {
	s, _ := newStore()
	s.Expect("a", 1, nil)
	s.Expect("b", 0, []types.UID{"x"})
	s.CreationObserved("b")
	s.DeletionObserved("a", "x")
	checkPending(t, s, "a", 1, 0)
	checkPending(t, s, "b", 0, 1)
}

func TestTTL(t *testing.T) {
	s, clk := newStore()
	s.Expect("k", 1, []types.UID{"a"})
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
	s.Expect("k", 1, nil)
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
	s.Expect("k", 3, nil)
	clk.Advance(50 * time.Second)
	s.CreationObserved("k")
	clk.Advance(11 * time.Second)
	if !s.Satisfied("k") {
		t.Error("an observation reset the TTL")
	}
}

func TestForget(t *testing.T) {
	s, _ := newStore()
	s.Expect("k", 2, []types.UID{"a"})
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
	s.Expect("k", 1, nil)
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
		s.Expect(fmt.Sprint(k), perKey, uids)
	}
	var wg sync.WaitGroup
	for k := range keys {
		key := fmt.Sprint(k)
		for i := range perKey {
			wg.Go(func() { s.CreationObserved(key) })
			wg.Go(func() { s.DeletionObserved(key, types.UID(fmt.Sprintf("%d-%d", k, i))) })
			wg.Go(func() { s.Satisfied(key); s.Pending(key) })
		}
	}
	wg.Go(func() { clk.Advance(time.Second) })
	wg.Go(func() { s.Expect("other", 1, nil); s.LowerCreations("other", 1); s.Forget("other") })
	wg.Wait()
	for k := range keys {
		checkPending(t, s, fmt.Sprint(k), 0, 0)
		if !s.Satisfied(fmt.Sprint(k)) {
			t.Errorf("key %d not satisfied after every observation", k)
		}
	}
}
