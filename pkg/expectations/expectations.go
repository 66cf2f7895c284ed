// Package expectations remembers the pod creations and deletions a
// controller has asked for and not yet seen in its informer cache, so a
// stale cache never makes it create or delete a second time.
//
// Creations are remembered by node and deletions by pod UID, each with its
// own clock: one that is never observed (a watch event lost, a creation
// whose outcome is unknown and that did not happen) stops blocking its key
// after the TTL, however many expectations are added after it.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultTTL is how long an unmet expectation blocks its key before it is
// assumed lost (a watch event that never came) and dropped.
const DefaultTTL = 5 * time.Minute

// Store holds expectations per controller key. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	entries map[string]*entry
	ttl     time.Duration
	now     func() time.Time
}

// entry is what one key waits for, each item with the time it was expected.
type entry struct {
	creations map[string]time.Time // by node
	deletions map[types.UID]time.Time
}

// New returns an empty Store. now may be nil for time.Now.
func New(ttl time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{entries: map[string]*entry{}, ttl: ttl, now: now}
}

// Expect records that key's pods will be created on nodes and the pods with
// the given UIDs deleted, in addition to what it already waits for. An item
// expected again starts its clock again.
func (s *Store) Expect(key string, nodes []string, deletions []types.UID) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		e = &entry{creations: map[string]time.Time{}, deletions: map[types.UID]time.Time{}}
		s.entries[key] = e
	}
	for _, n := range nodes {
		e.creations[n] = now
	}
	for _, uid := range deletions {
		e.deletions[uid] = now
	}
}

// CreationObserved records that key's pod on node was created (the
// informer shows it), or that its creation failed and will not be observed.
// A pod on a node key did not expect one on changes nothing.
func (s *Store) CreationObserved(key, node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		delete(e.creations, node)
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

// Satisfied reports whether key may be synced in full: nothing it asked for
// in the last TTL is outstanding.
func (s *Store) Satisfied(key string) bool {
	c, d := s.Pending(key)
	return c == 0 && d == 0
}

// CreatingOn returns the nodes of key's outstanding creations when they
// are all it waits for: a sync may then create pods on other nodes, since
// the creations it cannot see yet are all on these. ok is false when
// deletions are outstanding as well, or nothing is.
func (s *Store) CreatingOn(key string) (nodes map[string]bool, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.entries[key]
	if !found {
		return nil, false
	}
	s.expire(e)
	if len(e.creations) == 0 || len(e.deletions) > 0 {
		return nil, false
	}
	nodes = make(map[string]bool, len(e.creations))
	for n := range e.creations {
		nodes[n] = true
	}
	return nodes, true
}

// IsCreatingOn reports whether key waits for its pod's creation on node.
func (s *Store) IsCreatingOn(key, node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return false
	}
	s.expire(e)
	_, creating := e.creations[node]
	return creating
}

// Pending returns the outstanding creations and deletions for key.
func (s *Store) Pending(key string) (creations, deletions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		s.expire(e)
		return len(e.creations), len(e.deletions)
	}
	return 0, 0
}

// expire drops e's items older than the TTL. s.mu is held.
func (s *Store) expire(e *entry) {
	now := s.now()
	for n, at := range e.creations {
		if now.Sub(at) > s.ttl {
			delete(e.creations, n)
		}
	}
	for uid, at := range e.deletions {
		if now.Sub(at) > s.ttl {
			delete(e.deletions, uid)
		}
	}
}

// Forget drops key, when its controller object is gone.
func (s *Store) Forget(key string) {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// Total returns the outstanding creations and deletions over all keys.
func (s *Store) Total() (creations, deletions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		s.expire(e)
		creations += len(e.creations)
		deletions += len(e.deletions)
	}
	return creations, deletions
}
