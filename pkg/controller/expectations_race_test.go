package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// onRevisionCreate runs deliver once, from inside the next sync's observe:
// a revision not yet in the cache is created there, and that is when the
// informer delivers the events the test wants to arrive mid-sync.
func (f *fixture) onRevisionCreate(deliver func()) {
	done := false
	f.client.PrependReactor("create", "controllerrevisions", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !done {
			done = true
			deliver()
		}
		return false, nil, nil
	})
}

// TestSyncCreationSeenDuringObserve: the Add events of the pods the last
// sync created arrive while the next sync reads the caches. The plan was
// built without them, so it must not act: that would put a second pod on
// their nodes.
func TestSyncCreationSeenDuringObserve(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), newNode("n2", true))
	f.mustSync() // creates 2 pods and expects them; the cache lags
	if n := len(f.createdPods()); n != 2 {
		t.Fatalf("first sync created %d pods, want 2", n)
	}
	f.onRevisionCreate(func() {
		pods, err := f.client.Tracker().List(v1.SchemeGroupVersion.WithResource("pods"), v1.SchemeGroupVersion.WithKind("Pod"), ns)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods.(*v1.PodList).Items {
			f.catchUpPod(&pods.(*v1.PodList).Items[i])
		}
	})
	f.client.ClearActions()
	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("second sync created %d more pods on nodes that already have one", n)
	}
}

// TestSyncDeletionSeenDuringObserve: the same for a rollout step's
// deletion: the pod must not be deleted again from the stale view.
func TestSyncDeletionSeenDuringObserve(t *testing.T) {
	f := newFixture(t, Options{})
	old := newDaemonSet()
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		ds.Generation = 2
	})
	f.add(ds, newNode("n1", true), newNode("n2", true), daemonPod(old, "p1", "n1"), daemonPod(old, "p2", "n2"))
	f.mustSync() // a rollout step: deletes one old pod (maxUnavailable 1)
	if got := f.deletedPods(); len(got) != 1 {
		t.Fatalf("first step deleted %v, want one pod", got)
	}
	deleted := f.deletedPods()[0]
	f.onRevisionCreate(func() {
		node := map[string]string{"p1": "n1", "p2": "n2"}[deleted]
		pod := daemonPod(old, deleted, node)
		now := metav1.Now()
		pod.DeletionTimestamp = &now
		pod.ResourceVersion = "7"
		f.catchUpPod(pod) // the update that starts its graceful deletion
	})
	f.client.ClearActions()
	f.mustSync()
	if got := f.deletedPods(); len(got) != 0 {
		t.Errorf("second sync deleted %v again", got)
	}
}
