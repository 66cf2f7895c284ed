// Package priorityqueue orders a workqueue by priority: the DaemonSets whose
// pods matter most to a node (CNI, storage: system-node-critical) are synced
// before the rest, instead of first-in first-out.
package priorityqueue

import (
	"container/heap"
	"math"
	"sync"
	"sync/atomic"
)

// Queue implements client-go's workqueue.Queue: higher priority first,
// first-in first-out among equals. The workqueue calls it under its own
// lock, so it has none.
type Queue[T comparable] struct {
	priority func(T) int64
	items    items[T]
	seq      uint64
	// top is the priority of the most urgent queued item, readable without
	// the workqueue's lock; math.MinInt64 when the queue is empty.
	top atomic.Int64

	mu sync.Mutex
	// raised is closed when a push raises top; nil until someone asks.
	raised chan struct{}
}

// New returns a Queue that ranks each item by priority when it is pushed.
func New[T comparable](priority func(T) int64) *Queue[T] {
	q := &Queue[T]{priority: priority}
	q.top.Store(math.MinInt64)
	return q
}

// Push adds an item (the workqueue never pushes an item already queued).
func (q *Queue[T]) Push(item T) {
	q.seq++
	heap.Push(&q.items, entry[T]{item: item, priority: q.priority(item), seq: q.seq})
	if top := q.items[0].priority; top > q.top.Swap(top) {
		q.mu.Lock()
		if q.raised != nil {
			close(q.raised)
			q.raised = nil
		}
		q.mu.Unlock()
	}
}

// Waiting reports whether an item of priority higher than p is queued,
// i.e. waits for a worker. Safe to call from any goroutine.
func (q *Queue[T]) Waiting(p int64) bool { return q.top.Load() > p }

// Raised returns a channel that is closed once an item more urgent than
// any queued is pushed. Take it before asking Waiting, so that a push in
// between is not missed; then a waiter wakes when Waiting may have turned
// true, instead of asking it on a timer.
func (q *Queue[T]) Raised() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.raised == nil {
		q.raised = make(chan struct{})
	}
	return q.raised
}

// Touch is called when a queued item is added again; its place stays.
func (q *Queue[T]) Touch(T) {}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int { return len(q.items) }

// Pop removes the most urgent item.
func (q *Queue[T]) Pop() T {
	item := heap.Pop(&q.items).(entry[T]).item
	if len(q.items) == 0 {
		q.top.Store(math.MinInt64)
	} else {
		q.top.Store(q.items[0].priority)
	}
	return item
}

type entry[T comparable] struct {
	item     T
	priority int64
	seq      uint64
}

type items[T comparable] []entry[T]

func (h items[T]) Len() int { return len(h) }
func (h items[T]) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h items[T]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *items[T]) Push(x any)   { *h = append(*h, x.(entry[T])) }
func (h *items[T]) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
