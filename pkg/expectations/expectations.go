// Package expectations remembers the pod creations and deletions a
// controller has asked for and not yet seen in its informer cache, so a
// stale cache never makes it create or delete a second time.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultTTL is how long unmet expectations block a key before they are
// assumed lost (a watch event that never came) and the key is synced anyway.
const DefaultTTL = 5 * time.Minute

// Store holds expectations per controller key. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	entries map[string]*entry
	ttl     time.Duration
	now     func() time.Time
}

type entry struct {
	creations int
	deletions map[types.UID]struct{}
	since     time.Time
}

// New returns an empty Store. now may be nil for time.Now.
func New(ttl time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{entries: map[string]*entry{}, ttl: ttl, now: now}
}

// Expect records that creations pods will be created and the pods with
// the given UIDs deleted for key. It replaces what key expected before.
func (s *Store) Expect(key string, creations int, deletions []types.UID) {
	e := &entry{creations: creations, deletions: make(map[types.UID]struct{}, len(deletions)), since: s.now()}
	for _, uid := range deletions {
		e.deletions[uid] = struct{}{}
	}
	s.mu.Lock()
	s.entries[key] = e
	s.mu.Unlock()
}

// CreationObserved records that one expected pod was created, or that its
// creation failed or was skipped and will not be observed.
func (s *Store) CreationObserved(key string) { s.LowerCreations(key, 1) }

// LowerCreations lowers the creations key waits for by n.
func (s *Store) LowerCreations(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.creations > 0 {
		e.creations = max(e.creations-n, 0)
	}
}

// DeletionObserved records that the pod with uid is gone or going, or that
// its deletion failed and will not be observed.
func (s *Store) DeletionObserved(key string, uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		delete(e.deletions, uid)
	}
}

// Satisfied reports whether key may be synced: nothing it asked for is
// outstanding, or what is outstanding has waited longer than the TTL.
func (s *Store) Satisfied(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return true
	}
	if e.creations <= 0 && len(e.deletions) == 0 {
		return true
	}
	return s.now().Sub(e.since) > s.ttl
}

// Pending returns the outstanding creations and deletions for key.
func (s *Store) Pending(key string) (creations, deletions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		return e.creations, len(e.deletions)
	}
	return 0, 0
}

// Forget drops key, when its controller object is gone.
func (s *Store) Forget(key string) {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// Total returns the outstanding creations and deletions over all keys,
// expired ones included.
func (s *Store) Total() (creations, deletions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		creations += max(e.creations, 0)
		deletions += len(e.deletions)
	}
	return creations, deletions
}
