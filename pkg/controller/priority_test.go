package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
)

// TestQueueServesCriticalDaemonSetsFirst: keys come out of the workqueue
// by their pods' priority, first-in first-out among equals.
func TestQueueServesCriticalDaemonSetsFirst(t *testing.T) {
	f := newFixture(t, Options{})
	mk := func(name, class string, prio *int32) *appsv1.DaemonSet {
		return newDaemonSet(func(ds *appsv1.DaemonSet) {
			ds.Name, ds.UID = name, types.UID(name)
			ds.Spec.Template.Spec.PriorityClassName = class
			ds.Spec.Template.Spec.Priority = prio
		})
	}
	explicit := int32(5000)
	f.add(&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, Value: 1000},
		mk("logs", "", nil), mk("metrics", "monitoring", nil), mk("cni", "system-node-critical", nil),
		mk("csi", "system-node-critical", nil), mk("custom", "", &explicit), mk("unknown-class", "no-such-class", nil))
	for _, name := range []string{"logs", "metrics", "cni", "unknown-class", "custom", "csi"} {
		f.c.queue.Add(ns + "/" + name)
	}
	var got []string
	for f.c.queue.Len() > 0 {
		k, _ := f.c.queue.Get()
		got = append(got, k)
		f.c.queue.Done(k)
	}
	want := []string{ns + "/cni", ns + "/csi", ns + "/custom", ns + "/metrics", ns + "/logs", ns + "/unknown-class"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestSyncYieldsToMoreUrgentDaemonSet: a sync creating many pods gives its
// worker up after a slow-start batch when a more urgent DaemonSet waits in
// the queue, and comes back for the rest.
func TestSyncYieldsToMoreUrgentDaemonSet(t *testing.T) {
	f := newFixture(t, Options{})
	logs := newDaemonSet()
	cni := newCNI()
	f.add(logs, cni)
	nodes := resumeMaxBatch + 4
	for i := range nodes {
		f.add(newNode(fmt.Sprintf("n%d", i), true))
	}
	f.c.queue.Add(ns + "/cni") // waits for a worker

	f.mustSync() // logs, at priority 0
	if n := len(f.createdPods()); n != 1 {
		t.Fatalf("created %d pods before yielding, want 1 (the first slow-start batch)", n)
	}
	if c, _ := f.pending(); c != 1 {
		t.Errorf("expecting %d creations, want 1 (the skipped ones are not expected)", c)
	}
	if got := testutil.ToFloat64(f.c.metrics.Throttled.WithLabelValues("yield")); got != float64(nodes-1) {
		t.Errorf("yield counter %v, want %d", got, nodes-1)
	}
	if n := len(f.actions("update", "daemonsets/status")); n != 0 {
		t.Errorf("the yielding sync wrote status %d times; that is left to its next sync", n)
	}
	// The queue serves cni first, then logs again for the rest.
	var order []string
	for f.c.queue.Len() > 0 {
		k, _ := f.c.queue.Get()
		order = append(order, k)
		f.c.queue.Done(k)
	}
	if want := []string{ns + "/cni", dsKey}; !reflect.DeepEqual(order, want) {
		t.Fatalf("queue order %v, want %v", order, want)
	}
	// The next sync resumes slow start where the yield left it (the
	// window the first success opened), not at 1: everything so far
	// succeeded.
	f.catchUp()
	f.c.queue.Add(ns + "/cni") // urgent again
	f.mustSync()
	if n := len(f.createdPods()); n != resumeMaxBatch {
		t.Errorf("created %d pods before yielding again, want %d (slow start resumed at its window)", n, resumeMaxBatch)
	}
	for f.c.queue.Len() > 0 {
		k, _ := f.c.queue.Get()
		f.c.queue.Done(k)
	}
	f.catchUp()
	f.mustSync() // nothing more urgent waits now
	if n := len(f.createdPods()); n != nodes-1-resumeMaxBatch {
		t.Errorf("created %d pods on the last sync, want the %d left", n, nodes-1-resumeMaxBatch)
	}
}

// TestSyncInBackoffStillWritesStatus: creations put off by the backoff are
// no yield: with a more urgent DaemonSet waiting, the status is written.
func TestSyncInBackoffStillWritesStatus(t *testing.T) {
	f := newFixture(t, Options{})
	logs := newDaemonSet()
	cni := newCNI()
	f.add(logs, cni, newNode("n1", true), newNode("n2", true))
	f.c.createBackoff.next(string(logs.UID), f.clock.Now())
	f.c.queue.Add(ns + "/cni")

	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d pods during the backoff", n)
	}
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Errorf("%d status updates during the backoff, want 1", n)
	}
}

// TestSyncResumesACutRolloutAtItsWindow: the next batch of a rollout cut
// by --burst-replicas starts provenWindow creations at once, as the last
// batch kept that many in flight, not resumeMaxBatch; it still gives its
// worker up to a more urgent DaemonSet once resumeMaxBatch have started.
func TestSyncResumesACutRolloutAtItsWindow(t *testing.T) {
	for _, tt := range []struct {
		name   string
		urgent bool
		want   int
	}{
		{"alone", false, provenWindow},
		{"a more urgent DaemonSet waits", true, resumeMaxBatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{BurstReplicas: 2 * provenWindow})
			f.add(newDaemonSet(), newCNI())
			for i := range 4 * provenWindow {
				f.add(newNode(fmt.Sprintf("n%d", i), true))
			}
			f.mustSync() // the first batch, cut; the cache does not catch up
			// Every creation now fails, so the calls made show how many
			// started at once.
			f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewInternalError(errors.New("etcd timeout"))
			})
			if tt.urgent {
				f.c.queue.Add(ns + "/cni")
			}
			f.client.ClearActions()
			_ = f.sync()
			if n := len(f.actions("create", "pods")); n != tt.want {
				t.Errorf("the next batch started %d creations at once, want %d", n, tt.want)
			}
		})
	}
}

// TestTakeResume: a resumed slow start is for the same DaemonSet, soon
// after its yield, once, and at a bounded batch.
func TestTakeResume(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	tests := []struct {
		name string
		r    resumeAt
		want int
	}{
		{"just yielded", resumeAt{uid: ds.UID, hash: "h1", batch: 8, at: f.clock.Now()}, 8},
		{"capped", resumeAt{uid: ds.UID, hash: "h1", batch: 128, at: f.clock.Now()}, resumeMaxBatch},
		{"cut by the burst", resumeAt{uid: ds.UID, hash: "h1", batch: 128, at: f.clock.Now(), cut: true}, provenWindow},
		{"too long ago", resumeAt{uid: ds.UID, hash: "h1", batch: 8, at: f.clock.Now().Add(-resumeWithin - time.Second)}, 1},
		{"another DaemonSet of that name", resumeAt{uid: "old-uid", hash: "h1", batch: 8, at: f.clock.Now()}, 1},
		{"another template", resumeAt{uid: ds.UID, hash: "h0", batch: 8, at: f.clock.Now()}, 1},
	}
	for _, tt := range tests {
		f.c.resume.Store(dsKey, tt.r)
		if got := f.c.takeResume(ds, "h1"); got != tt.want {
			t.Errorf("%s: first batch %d, want %d", tt.name, got, tt.want)
		}
		if got := f.c.takeResume(ds, "h1"); got != 1 {
			t.Errorf("%s: taken twice: %d, want 1 the second time", tt.name, got)
		}
	}
	if got := f.c.takeResume(ds, "h1"); got != 1 {
		t.Errorf("nothing stored: first batch %d, want 1", got)
	}
}

// TestSyncWaitsForMoreUrgentCreations: while a more urgent DaemonSet's
// creations are under way, a sync starts none of its own; it goes on when
// they end.
func TestSyncWaitsForMoreUrgentCreations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Options{})
		f.add(newDaemonSet(), newNode("n1", true), newNode("n2", true))
		release := f.c.gate.Hold(2000001000) // system-node-critical
		done := make(chan error, 1)
		go func() { done <- f.sync() }()
		synctest.Wait() // the sync is blocked, holding its creations back
		if n := len(f.actions("create", "pods")); n > 0 || len(done) > 0 {
			t.Fatalf("%d pods created, or the sync ended, while a more urgent DaemonSet was creating", n)
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(f.createdPods()); n != 2 {
			t.Errorf("created %d pods, want 2", n)
		}
	})
}

// TestSyncHeldByTheGateYields: a sync held back by a more urgent
// DaemonSet's creations gives its worker up at once, even before its
// first creation, when a DaemonSet as urgent as the gate's holder waits
// for a worker: it would make no progress while it kept the worker. It
// looks again whenever a hold ends, even while work above it goes on:
// the gate's top may have fallen to such a DaemonSet. In a synctest
// bubble, a sync that waited on a timer first would answer late on the
// fake clock, and one that missed the fall would not answer at all.
func TestSyncHeldByTheGateYields(t *testing.T) {
	for _, tt := range []struct {
		name       string
		holdsAbove bool // creations more urgent than cni's, ending once the sync is held
		queueLater bool // cni queued once the sync is held, not before
	}{
		{name: "held by cni's creations"},
		{name: "the gate falls to cni's creations", holdsAbove: true},
		{name: "cni queued while the sync is held", queueLater: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, Options{})
				cni := newCNI()
				f.add(newDaemonSet(), cni, newNode("n1", true))
				defer f.c.gate.Hold(2000001000)() // cni's creations left in flight
				var first, last func()            // creations more urgent than cni's
				if tt.holdsAbove {
					first, last = f.c.gate.Hold(2000001001), f.c.gate.Hold(2000001001)
					defer last() // on failure; a release is once only
				}
				if !tt.queueLater {
					f.c.queue.Add(ns + "/cni") // cni's next sync waits for a worker
				}
				done := make(chan error, 1)
				go func() { done <- f.sync() }()
				if tt.holdsAbove {
					synctest.Wait()
					first() // the top stays above cni's: the sync looks, and waits on
					synctest.Wait()
					if len(done) != 0 {
						t.Fatalf("%s: the sync went on, or yielded, while creations more urgent than cni's were under way", tt.name)
					}
				}
				if tt.queueLater {
					synctest.Wait()
					if len(done) != 0 {
						t.Fatalf("%s: the sync went on while cni's creations were under way", tt.name)
					}
				}
				began := time.Now()
				if tt.holdsAbove {
					last()
				}
				if tt.queueLater {
					f.c.queue.Add(ns + "/cni") // the queue must wake the held sync
				}
				yieldedAtOnce(t, done, began, tt.name+": the held sync kept its worker while cni waited for one")
				if n := len(f.actions("create", "pods")); n != 0 {
					t.Errorf("%s: %d pods created while a more urgent DaemonSet was creating", tt.name, n)
				}
				if got := testutil.ToFloat64(f.c.metrics.Throttled.WithLabelValues("yield")); got != 1 {
					t.Errorf("%s: yield counter %v, want 1", tt.name, got)
				}
			})
		})
	}
}

// TestSyncWaitingForAnswersYields: a sync whose creations have all
// started, waiting for their answers, gives its worker up as soon as a
// more urgent DaemonSet waits for one, and leaves them in flight. In a
// synctest bubble no time passes unless every goroutine waits on a timer:
// a sync that looked for the other DaemonSet on a timer would still hold
// its worker when synctest.Wait returns.
func TestSyncWaitingForAnswersYields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Options{})
		cni := newCNI()
		f.add(newDaemonSet(), cni, newNode("n1", true))
		hung, free := hangFirstCreation(f)
		done := make(chan error, 1)
		go func() { done <- f.c.sync(context.Background(), dsKey) }()
		<-hung
		synctest.Wait() // the sync waits for the answer: the queue must wake it
		began := time.Now()
		f.c.queue.Add(ns + "/cni")
		yieldedAtOnce(t, done, began, "the sync kept its worker, waiting for answers, while a more urgent DaemonSet waited")
		if c, _ := f.pending(); c != 1 {
			t.Errorf("%d creations expected, want the 1 left in flight", c)
		}
		free()
		f.c.tails.Wait()
	})
}

// yieldedAtOnce waits until every other goroutine of the synctest bubble
// is blocked, then fails with kept unless the sync has returned, without
// error, with no time passed on the bubble's clock since began.
func yieldedAtOnce(t *testing.T, done <-chan error, began time.Time, kept string) {
	t.Helper()
	synctest.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal(kept)
	}
	if waited := time.Since(began); waited != 0 {
		t.Errorf("the sync gave its worker up after %v, want at once", waited)
	}
}

// newCNI is a system-node-critical DaemonSet named cni, beside newDaemonSet's.
func newCNI() *appsv1.DaemonSet {
	return newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Name, ds.UID = "cni", "cni"
		ds.Spec.Template.Spec.PriorityClassName = "system-node-critical"
	})
}

// TestCreationsHoldTheGivenGate: creations hold the gate of Options while
// under way, so that other writers given it (main's event sink) can wait
// for them, and release it when they have returned.
func TestCreationsHoldTheGivenGate(t *testing.T) {
	gate := prioritylimit.NewGate()
	f := newFixture(t, Options{Gate: gate})
	var calls, heldDuring atomic.Int32
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if top, _ := gate.Look(); top != math.MinInt64 {
			heldDuring.Add(1)
		}
		return false, nil, nil
	})
	f.add(newDaemonSet(), newNode("n0", true), newNode("n1", true))
	f.mustSync()
	if calls.Load() != 2 || heldDuring.Load() != 2 {
		t.Errorf("the gate was held during %d of %d creations, want all of 2", heldDuring.Load(), calls.Load())
	}
	if top, _ := gate.Look(); top != math.MinInt64 {
		t.Errorf("the gate is held at %d after the creations returned", top)
	}
}
