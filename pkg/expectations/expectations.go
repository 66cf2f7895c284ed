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
	// nodes are the nodes of the expected creations not yet observed.
	nodes     map[string]struct{}
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

// Expect records that pods will be created on nodes and the pods with the
// given UIDs deleted for key. While key waits for earlier writes (see
// CreatingOn) these are added to them; otherwise they replace what key
// expected before, expired expectations included.
func (s *Store) Expect(key string, nodes []string, deletions []types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || s.done(e) {
		e = &entry{nodes: map[string]struct{}{}, deletions: map[types.UID]struct{}{}}
		s.entries[key] = e
	}
	e.since = s.now()
	e.creations += len(nodes)
	for _, n := range nodes {
		e.nodes[n] = struct{}{}
	}
	for _, uid := range deletions {
		e.deletions[uid] = struct{}{}
	}
}

// CreationObserved records that a pod of key's was created on node (the
// informer shows it), or that its creation there failed and will not be
// observed.
func (s *Store) CreationObserved(key, node string) { s.CreationsSkipped(key, []string{node}) }

// CreationsSkipped lowers the creations key waits for by those on nodes,
// which were never attempted.
func (s *Store) CreationsSkipped(key string, nodes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.creations > 0 {
		e.creations = max(e.creations-len(nodes), 0)
		for _, n := range nodes {
			delete(e.nodes, n)
		}
	}
}

// CreatingOn returns the nodes of key's outstanding creations when they
// are all it waits for, and have not expired: a sync may then create pods
// on other nodes, since the creations it cannot see yet are all on these.
// ok is false when deletions are outstanding as well, or nothing is.
func (s *Store) CreatingOn(key string) (nodes map[string]bool, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.entries[key]
	if !found || s.done(e) || len(e.deletions) > 0 {
		return nil, false
	}
	nodes = make(map[string]bool, len(e.nodes))
	for n := range e.nodes {
		nodes[n] = true
	}
	return nodes, true
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
	return !ok || s.done(e)
}

// done reports whether e is met or expired. s.mu is held.
func (s *Store) done(e *entry) bool {
	return (e.creations <= 0 && len(e.deletions) == 0) || s.now().Sub(e.since) > s.ttl
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
