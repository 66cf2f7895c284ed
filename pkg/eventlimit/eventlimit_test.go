package eventlimit

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// fakeClock is the correlator's clock (a k8s.io/utils/clock.PassiveClock),
// moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time                  { return c.t }
func (c *fakeClock) Since(t time.Time) time.Duration { return c.t.Sub(t) }
func (c *fakeClock) Step(d time.Duration)            { c.t = c.t.Add(d) }

func ds(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}}
}

// TestSameAsCorrelator: over an hour of events on a few DaemonSets, of
// both types, at varying rates, the recorder passes exactly the events
// client-go's correlator does not skip.
func TestSameAsCorrelator(t *testing.T) {
	start := time.Unix(1700000000, 0)
	clock := &fakeClock{start}
	correlator := record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{Clock: clock})
	fake := record.NewFakeRecorder(100000)
	r := New(fake)
	r.now = clock.Now
	objects := []*appsv1.DaemonSet{ds("a"), ds("b"), ds("c")}
	passed, skipped := 0, 0
	for i := 0; i < 3600; i++ {
		obj := objects[i%len(objects)]
		eventtype := v1.EventTypeNormal
		if i%7 == 0 {
			eventtype = v1.EventTypeWarning
		}
		msg := fmt.Sprintf("Created pod: %s-%d", obj.Name, i)
		ref := v1.ObjectReference{Kind: "DaemonSet", APIVersion: "apps/v1", Namespace: obj.Namespace, Name: obj.Name, UID: obj.UID}
		event := &v1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", obj.Name, i), Namespace: obj.Namespace},
			InvolvedObject: ref, Type: eventtype, Reason: "SuccessfulCreate", Message: msg,
			Source:         v1.EventSource{Component: "daemonset-controller"},
			FirstTimestamp: metav1.NewTime(clock.Now()), LastTimestamp: metav1.NewTime(clock.Now()), Count: 1,
		}
		result, err := correlator.EventCorrelate(event)
		if err != nil {
			t.Fatal(err)
		}
		before := len(fake.Events)
		r.Eventf(obj, eventtype, "SuccessfulCreate", "Created pod: %s-%d", obj.Name, i)
		ours := len(fake.Events) > before
		if ours != !result.Skip {
			t.Fatalf("event %d at %v on %s (%s): we pass %v, the correlator %v", i, clock.Since(start), obj.Name, eventtype, ours, !result.Skip)
		}
		if ours {
			passed++
		} else {
			skipped++
		}
		// Bursts of events a second apart, then quiet spells.
		if i%200 < 150 {
			clock.Step(time.Second)
		} else {
			clock.Step(40 * time.Second)
		}
	}
	if passed == 0 || skipped == 0 {
		t.Fatalf("passed %d, skipped %d: the sequence does not exercise the filter", passed, skipped)
	}
}

// TestForgetting: with more objects than it keeps, the recorder forgets
// them all, so it passes (the correlator may drop) rather than drops.
func TestForgetting(t *testing.T) {
	fake := record.NewFakeRecorder(maxKeys*burst + 10)
	r := New(fake)
	now := time.Unix(1700000000, 0)
	r.now = func() time.Time { return now }
	for i := 0; i < burst; i++ {
		r.Event(ds("first"), v1.EventTypeNormal, "R", "m")
	}
	r.Event(ds("first"), v1.EventTypeNormal, "R", "m")
	if got := len(fake.Events); got != burst {
		t.Fatalf("%d events passed, want %d", got, burst)
	}
	for i := 0; i < maxKeys; i++ {
		r.Event(ds(fmt.Sprint("other-", i)), v1.EventTypeNormal, "R", "m")
	}
	if len(r.buckets) > maxKeys {
		t.Errorf("%d buckets kept, want at most %d", len(r.buckets), maxKeys)
	}
	before := len(fake.Events)
	r.Event(ds("first"), v1.EventTypeNormal, "R", "m")
	if len(fake.Events) != before+1 {
		t.Errorf("an event on a forgotten object was dropped")
	}
}
