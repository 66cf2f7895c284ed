package controller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

// TestSyncCreationBackoff: once the API server refuses a creation (here a
// quota), the DaemonSet's next creations wait 1 s, then 2 s, 4 s, ... while
// every attempt is refused, however many events bring it back in between;
// the status is still written. The first creation that gets through ends
// the backoff.
func TestSyncCreationBackoff(t *testing.T) {
	f := newFixture(t, Options{})
	var refuse atomic.Bool
	refuse.Store(true)
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if refuse.Load() {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errQuota)
		}
		return false, nil, nil
	})
	ds := newDaemonSet()
	f.add(ds, newNode("n0", true), newNode("n1", true), newNode("n2", true))
	attempts := func() int {
		n := len(f.actions("create", "pods"))
		f.client.ClearActions()
		return n
	}

	if err := f.sync(); err == nil {
		t.Fatal("a refused creation: want a sync error")
	}
	if n := attempts(); n != 1 {
		t.Fatalf("%d creations tried, want 1 (slow start)", n)
	}
	// Events bring the DaemonSet back at once: nothing is tried, and the
	// status is written all the same.
	for i := 0; i < 5; i++ {
		f.clock.Advance(100 * time.Millisecond)
		if err := f.sync(); err != nil {
			t.Fatalf("a sync within the backoff: %v", err)
		}
	}
	if n := attempts(); n != 0 {
		t.Errorf("%d creations tried within the first second", n)
	}
	if st := f.apiDaemonSet().Status; st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 0 {
		t.Errorf("status = %+v, want 3 desired, 0 current", st)
	}
	f.clock.Advance(500 * time.Millisecond) // 1 s since the refusal

	// While every attempt is refused, the delay doubles.
	for _, delay := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if err := f.sync(); err == nil {
			t.Fatal("want a sync error")
		}
		if n := attempts(); n != 1 {
			t.Fatalf("%d creations tried once the backoff passed, want 1", n)
		}
		f.clock.Advance(delay - time.Millisecond)
		f.mustSync()
		if n := attempts(); n != 0 {
			t.Fatalf("%d creations tried before %v had passed", n, delay)
		}
		f.clock.Advance(time.Millisecond)
	}

	// The cause is lifted: the next attempt gets through, and so do the
	// rest of the slow-start batches.
	refuse.Store(false)
	f.mustSync()
	if n := attempts(); n != 3 {
		t.Fatalf("%d creations once allowed, want 3", n)
	}
	if wait := f.c.createBackoff.wait(string(ds.UID), f.clock.Now()); wait != 0 {
		t.Errorf("backoff %v left after creations got through, want none", wait)
	}
	// A later refusal starts over at 1 s.
	f.catchUp()
	pods, err := f.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods: %d %v", len(pods.Items), err)
	}
	if err := f.client.CoreV1().Pods(ns).Delete(context.Background(), pods.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	refuse.Store(true)
	if err := f.sync(); err == nil {
		t.Fatal("want a sync error")
	}
	if wait := f.c.createBackoff.wait(string(ds.UID), f.clock.Now()); wait != time.Second {
		t.Errorf("backoff after a new refusal = %v, want 1s", wait)
	}
}

// TestSyncNamespaceTerminating: in a namespace being deleted nothing can
// be created, a revision (which the namespace controller deletes early) no
// more than a pod. The sync is not a failure: it tries one pod and stops,
// records no backoff, and writes the status.
func TestSyncNamespaceTerminating(t *testing.T) {
	f := newFixture(t, Options{})
	f.client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		err := apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "",
			errors.New("unable to create new content in namespace default because it is being terminated"))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes,
			metav1.StatusCause{Type: v1.NamespaceTerminatingCause, Message: "namespace default is being terminated", Field: "metadata.namespace"})
		return true, nil, err
	})
	ds := newDaemonSet()
	f.add(ds, newNode("n0", true), newNode("n1", true), newNode("n2", true))

	f.mustSync()

	if n := len(f.actions("create", "controllerrevisions")); n != 1 {
		t.Errorf("%d revision creations, want 1", n)
	}
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d pod creations tried, want 1: the rest would be refused the same way", n)
	}
	want := appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 3, NumberUnavailable: 3}
	if st := f.apiDaemonSet().Status; st.DesiredNumberScheduled != want.DesiredNumberScheduled ||
		st.CurrentNumberScheduled != 0 || st.NumberUnavailable != want.NumberUnavailable || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	if ev := f.events(); len(ev) > 0 {
		t.Errorf("events %v: the namespace refuses them", ev)
	}
	if wait := f.c.createBackoff.wait(string(ds.UID), f.clock.Now()); wait != 0 {
		t.Errorf("backoff %v: a terminating namespace is not a failure", wait)
	}
	if c, _ := f.pending(); c != 0 {
		t.Errorf("%d creations still expected", c)
	}
}
