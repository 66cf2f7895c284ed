// Package priorityqueue orders a workqueue by priority: the DaemonSets whose
// pods matter most to a node (CNI, storage: system-node-critical) are synced
// before the rest, instead of first-in first-out.
package priorityqueue

import "container/heap"

// Queue implements client-go's workqueue.Queue: higher priority first,
// first-in first-out among equals. The workqueue calls it under its own
// lock, so it has none.
type Queue[T comparable] struct {
	priority func(T) int64
	items    items[T]
	seq      uint64
}

// New returns a Queue that ranks each item by priority when it is pushed.
func New[T comparable](priority func(T) int64) *Queue[T] {
	return &Queue[T]{priority: priority}
}

// Push adds an item (the workqueue never pushes an item already queued).
func (q *Queue[T]) Push(item T) {
	q.seq++
	heap.Push(&q.items, entry[T]{item: item, priority: q.priority(item), seq: q.seq})
}

// Touch is called when a queued item is added again; its place stays.
func (q *Queue[T]) Touch(T) {}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int { return len(q.items) }

// Pop removes the most urgent item.
func (q *Queue[T]) Pop() T { return heap.Pop(&q.items).(entry[T]).item }

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
