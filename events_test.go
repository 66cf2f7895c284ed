package main

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
)

// TestEventsWaitForCreations: events are written once the pod creations
// under way have ended, or once maxHold has passed since they began; a
// busy period holds them back once, not each in turn.
func TestEventsWaitForCreations(t *testing.T) {
	writes := map[string]func(afterCreations){
		"create": func(s afterCreations) { _, _ = s.Create(&v1.Event{}) },
		"update": func(s afterCreations) { _, _ = s.Update(&v1.Event{}) },
		"patch":  func(s afterCreations) { _, _ = s.Patch(&v1.Event{}, []byte("{}")) },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gate := prioritylimit.NewGate()
				sink := &countingSink{}
				s := afterCreations{EventSink: sink, ctx: t.Context(), creating: gate, maxHold: time.Second}
				written := func() time.Time {
					done := make(chan time.Time, 1)
					go func() { write(s); done <- time.Now() }()
					return <-done
				}

				began := time.Now()
				release := gate.Hold(-10) // creations of any priority hold events
				time.Sleep(300 * time.Millisecond)
				go write(s)
				time.Sleep(200 * time.Millisecond)
				synctest.Wait()
				if n := sink.writes.Load(); n != 0 {
					t.Fatalf("%d written while a creation was under way", n)
				}
				release()
				synctest.Wait()
				if n := sink.writes.Load(); n != 1 {
					t.Fatalf("%d written once the creations ended, want 1", n)
				}
				if at := time.Now(); !at.Equal(began.Add(500 * time.Millisecond)) {
					t.Errorf("written %v after the creations began, want 500ms, when they ended", at.Sub(began))
				}

				// Creations that go on hold events until maxHold after
				// they began, and then no more.
				began = time.Now()
				defer gate.Hold(0)()
				time.Sleep(400 * time.Millisecond)
				if at := written(); !at.Equal(began.Add(s.maxHold)) {
					t.Errorf("written %v after the creations began, want maxHold (%v)", at.Sub(began), s.maxHold)
				}
				at := time.Now()
				if next := written(); !next.Equal(at) {
					t.Errorf("the next event waited %v more in the same busy period", next.Sub(at))
				}
				if n := sink.writes.Load(); n != 3 {
					t.Errorf("%d written, want 3", n)
				}
			})
		})
	}
}

// TestEventsAtShutdown: with the controller stopping, events do not wait.
func TestEventsAtShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := prioritylimit.NewGate()
		defer gate.Hold(0)()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		sink := &countingSink{}
		at := time.Now()
		_, _ = afterCreations{EventSink: sink, ctx: ctx, creating: gate, maxHold: time.Hour}.Create(&v1.Event{})
		if waited := time.Since(at); waited != 0 || sink.writes.Load() != 1 {
			t.Errorf("waited %v, wrote %d; want no wait and 1 write", waited, sink.writes.Load())
		}
	})
}

// countingSink is a record.EventSink that counts its writes.
type countingSink struct{ writes atomic.Int32 }

func (s *countingSink) Create(e *v1.Event) (*v1.Event, error) { s.writes.Add(1); return e, nil }
func (s *countingSink) Update(e *v1.Event) (*v1.Event, error) { s.writes.Add(1); return e, nil }
func (s *countingSink) Patch(e *v1.Event, _ []byte) (*v1.Event, error) {
	s.writes.Add(1)
	return e, nil
}
