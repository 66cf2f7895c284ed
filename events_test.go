package main

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
)

// TestEventsWaitForCreations: an event is written once the pod creations
// under way have ended, and no later than maxHold while they go on.
func TestEventsWaitForCreations(t *testing.T) {
	writes := map[string]func(afterCreations) error{
		"create": func(s afterCreations) error { _, err := s.Create(&v1.Event{}); return err },
		"update": func(s afterCreations) error { _, err := s.Update(&v1.Event{}); return err },
		"patch":  func(s afterCreations) error { _, err := s.Patch(&v1.Event{}, []byte("{}")); return err },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			gate := prioritylimit.NewGate()
			sink := &recordingSink{written: make(chan string, 1)}
			s := afterCreations{EventSink: sink, ctx: context.Background(), creating: gate, maxHold: time.Hour}
			release := gate.Hold(-10) // any priority holds events back
			go func() { _ = write(s) }()
			select {
			case <-sink.written:
				t.Fatal("the event was written while a creation was under way")
			case <-time.After(200 * time.Millisecond): // it waits, as it should
			}
			release()
			select {
			case got := <-sink.written:
				if got != name {
					t.Errorf("wrote %s, want %s", got, name)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the event was not written once the creations ended")
			}

			// Creations that go on hold it back for maxHold only.
			s.maxHold = 50 * time.Millisecond
			defer gate.Hold(0)()
			began := time.Now()
			done := make(chan struct{})
			go func() { _ = write(s); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the event waited for creations past maxHold")
			}
			if waited := time.Since(began); waited < s.maxHold {
				t.Errorf("the event waited %v for the creations, want %v", waited, s.maxHold)
			}
		})
	}
}

// recordingSink is a record.EventSink that reports each write.
type recordingSink struct{ written chan string }

func (s *recordingSink) Create(e *v1.Event) (*v1.Event, error) { s.written <- "create"; return e, nil }
func (s *recordingSink) Update(e *v1.Event) (*v1.Event, error) { s.written <- "update"; return e, nil }
func (s *recordingSink) Patch(e *v1.Event, _ []byte) (*v1.Event, error) {
	s.written <- "patch"
	return e, nil
}
