package controller

import (
	"sync"
	"time"
)

// backoff is an exponential backoff per key on the controller's own clock
// (client-go's flowcontrol.Backoff reads the wall clock, which tests cannot
// steer). A key starts at initial, doubles up to max, and starts over once
// it has been quiet for twice max.
type backoff struct {
	mu           sync.Mutex
	initial, max time.Duration
	entries      map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// wait returns how long key must still wait at now; 0 means go ahead.
func (b *backoff) wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return 0
	}
	return max(e.last.Add(e.delay).Sub(now), 0)
}

// next records an attempt for key at now and lengthens its delay.
func (b *backoff) next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	switch {
	case !ok || now.Sub(e.last) > 2*b.max:
		b.entries[key] = &backoffEntry{delay: b.initial, last: now}
	default:
		e.delay, e.last = min(2*e.delay, b.max), now
	}
}

// resetUnlessSince forgets key, so that its next attempt may go ahead and
// a failure after it waits initial again, unless it failed at or after
// since: an attempt that began before a newer failure must not undo that
// failure's backoff. The zero since forgets it always.
func (b *backoff) resetUnlessSince(key string, since time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok && !since.IsZero() && !e.last.Before(since) {
		return
	}
	delete(b.entries, key)
}

// gc forgets keys quiet for longer than twice max.
func (b *backoff) gc(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range b.entries {
		if now.Sub(e.last) > 2*b.max {
			delete(b.entries, k)
		}
	}
}
