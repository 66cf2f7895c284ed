package controller

import (
	"reflect"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// drain empties a queue and returns its items, sorted.
func drain(q workqueue.TypedRateLimitingInterface[string]) []string {
	var out []string
	for q.Len() > 0 {
		k, _ := q.Get()
		q.Done(k)
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkQueue(t *testing.T, what string, q workqueue.TypedRateLimitingInterface[string], want ...string) {
	t.Helper()
	got := drain(q)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: queue = %v, want %v", what, got, want)
	}
}

func TestPodHandlers(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	other := newDaemonSet(func(o *appsv1.DaemonSet) {
		o.Name, o.UID = "other", "other-uid"
		o.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	})
	f.add(ds, other)
	otherKey := ns + "/other"

	// A pod we created shows up: one creation observed.
	f.c.expectations.Expect(dsKey, []string{"n1", "n2"}, []types.UID{"uid-p1"})
	p1 := daemonPod(ds, "p1", "n1")
	f.c.addPod(p1)
	if c, _ := f.pending(); c != 1 {
		t.Errorf("after addPod pending creations = %d, want 1", c)
	}
	checkQueue(t, "addPod owned", f.c.queue, dsKey)

	// An orphan enqueues the DaemonSets that select it, for adoption.
	f.c.addPod(daemonPod(ds, "stray", "n1", orphan))
	checkQueue(t, "addPod orphan", f.c.queue, dsKey)
	f.c.addPod(daemonPod(ds, "unrelated", "n1", orphan, withLabels("app", "nobody")))
	checkQueue(t, "addPod unrelated orphan", f.c.queue)

	// A pod owned by a DaemonSet we do not know (or another kind) is ignored.
	foreign := daemonPod(ds, "foreign", "n1")
	foreign.OwnerReferences[0].UID = "stale-uid"
	f.c.addPod(foreign)
	checkQueue(t, "addPod stale owner", f.c.queue)

	// Periodic resync: nothing.
	f.c.updatePod(p1, p1.DeepCopy())
	checkQueue(t, "resync", f.c.queue)

	// Graceful deletion starts: the deletion is observed now.
	going := p1.DeepCopy()
	going.ResourceVersion = "2"
	now := metav1.NewTime(start)
	going.DeletionTimestamp = &now
	f.c.updatePod(p1, going)
	if _, d := f.pending(); d != 0 {
		t.Errorf("after graceful deletion pending deletions = %d, want 0", d)
	}
	checkQueue(t, "graceful deletion", f.c.queue, dsKey)

	// A controller change wakes both the old and the new owner.
	moved := p1.DeepCopy()
	moved.ResourceVersion = "3"
	moved.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(other, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}
	f.c.updatePod(p1, moved)
	checkQueue(t, "owner change", f.c.queue, dsKey, otherKey)

	// Orphan relabelled to match another DaemonSet.
	stray := daemonPod(ds, "stray", "n1", orphan)
	relabelled := stray.DeepCopy()
	relabelled.ResourceVersion = "2"
	relabelled.Labels = map[string]string{"app": "other"}
	f.c.updatePod(stray, relabelled)
	checkQueue(t, "orphan relabelled", f.c.queue, otherKey)

	// Deletions, also as tombstones (expectations afresh: Expect adds to
	// the ones still outstanding above).
	f.c.expectations.Forget(dsKey)
	f.c.expectations.Expect(dsKey, nil, []types.UID{"uid-p2", "uid-p3"})
	f.c.deletePod(daemonPod(ds, "p2", "n1"))
	f.c.deletePod(cache.DeletedFinalStateUnknown{Key: ns + "/p3", Obj: daemonPod(ds, "p3", "n1")})
	if !f.c.expectations.Satisfied(dsKey) {
		t.Error("deletions (one as a tombstone) not observed")
	}
	checkQueue(t, "deletions", f.c.queue, dsKey)
	f.c.deletePod(daemonPod(ds, "gone-orphan", "n1", orphan))
	checkQueue(t, "orphan deleted", f.c.queue)
}

func TestPodAddedWhileTerminatingIsADeletion(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds)
	f.c.expectations.Expect(dsKey, []string{"n1"}, []types.UID{"uid-p"})
	pod := daemonPod(ds, "p", "n1")
	now := metav1.NewTime(start)
	pod.DeletionTimestamp = &now
	f.c.addPod(pod)
	if c, d := f.pending(); c != 1 || d != 0 {
		t.Errorf("pending = (%d, %d), want (1, 0): a terminating pod is a deletion, not a creation", c, d)
	}
}

func TestNodeHandlers(t *testing.T) {
	f := newFixture(t, Options{})
	node := newNode("n1", true)

	f.c.addNode(node)
	checkQueue(t, "add", f.c.nodeQueue, "n1")

	heartbeat := node.DeepCopy()
	heartbeat.ResourceVersion = "2"
	heartbeat.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(start)}}
	f.c.updateNode(node, heartbeat)
	checkQueue(t, "heartbeat", f.c.nodeQueue)

	relabelled := node.DeepCopy()
	relabelled.Labels["zone"] = "a"
	f.c.updateNode(node, relabelled)
	checkQueue(t, "labels", f.c.nodeQueue, "n1")

	tainted := node.DeepCopy()
	tainted.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}
	f.c.updateNode(node, tainted)
	checkQueue(t, "taints", f.c.nodeQueue, "n1")

	f.c.deleteNode(cache.DeletedFinalStateUnknown{Key: "n1", Obj: node})
	checkQueue(t, "delete tombstone", f.c.nodeQueue, "n1")
}

func TestSyncNode(t *testing.T) {
	f := newFixture(t, Options{})
	// wants runs on daemon=yes nodes; picky only on zone=z nodes.
	wants := newDaemonSet()
	picky := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Name, ds.UID = "picky", "picky-uid"
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "z"}
	})
	f.add(wants, picky, newNode("fresh", true), newNode("served", true), newNode("left", false))
	f.add(daemonPod(wants, "p-served", "served"), daemonPod(picky, "p-left", "left"))

	tests := []struct {
		node string
		want []string
	}{
		// A new node that wants needs and picky does not.
		{"fresh", []string{dsKey}},
		// Already served, nothing to do for either.
		{"served", nil},
		// picky's pod must go; wants has nothing to do there.
		{"left", []string{ns + "/picky"}},
		// A deleted node: the owners of pods there clean up.
		{"gone", nil},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			if err := f.c.syncNode(tt.node); err != nil {
				t.Fatal(err)
			}
			checkQueue(t, "syncNode "+tt.node, f.c.queue, tt.want...)
		})
	}

	// The node with a pod disappears from the cache.
	if err := f.indexer(&v1.Node{}).Delete(newNode("served", true)); err != nil {
		t.Fatal(err)
	}
	if err := f.c.syncNode("served"); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, "syncNode deleted node", f.c.queue, dsKey)
}

// TestPodProgressWaitsForStatusHold: within StatusInterval of a status
// write, a pod that only turns ready wakes its DaemonSet at the end of the
// interval, when the held status is written; a change the plan acts on
// wakes it at once.
func TestPodProgressWaitsForStatusHold(t *testing.T) {
	const hold = 200 * time.Millisecond
	f := newFixture(t, Options{StatusInterval: hold})
	ds := newDaemonSet()
	f.add(ds)
	f.c.statusWritten.Store(dsKey, writtenStatus{uid: ds.UID, at: f.clock.Now()})
	starting := daemonPod(ds, "p", "n1", notReady)
	ready := daemonPod(ds, "p", "n1")
	ready.ResourceVersion = "2"

	f.c.updatePod(starting, ready)
	checkQueue(t, "turned ready during the hold", f.c.queue)
	deadline := time.Now().Add(5 * time.Second)
	for f.c.queue.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	checkQueue(t, "at the end of the hold", f.c.queue, dsKey)

	relabelled := ready.DeepCopy()
	relabelled.Labels["extra"] = "x"
	failed := ready.DeepCopy()
	failed.Status.Phase = v1.PodFailed
	for what, cur := range map[string]*v1.Pod{"relabelled": relabelled, "failed": failed} {
		cur.ResourceVersion = "3"
		f.c.updatePod(ready, cur)
		checkQueue(t, what+" during the hold", f.c.queue, dsKey)
	}

	f.clock.Advance(hold)
	f.c.updatePod(starting, ready)
	checkQueue(t, "turned ready after the hold", f.c.queue, dsKey)

	// During an update the next step waits for readiness: no hold.
	rolling := ds.DeepCopy()
	rolling.Status.DesiredNumberScheduled, rolling.Status.UpdatedNumberScheduled = 3, 1
	if err := f.indexer(rolling).Update(rolling); err != nil {
		t.Fatal(err)
	}
	f.c.statusWritten.Store(dsKey, writtenStatus{uid: ds.UID, at: f.clock.Now()})
	f.c.updatePod(starting, ready)
	checkQueue(t, "turned ready during an update", f.c.queue, dsKey)
}

// TestPodProgressWaitsLongerWhileTheClientIsBusy: a second after a status
// write, a pod that only turns ready waits while the client is at its rate
// limit (the status would be held back, see statusWait), and wakes its
// DaemonSet at once when the client has tokens to spare.
func TestPodProgressWaitsLongerWhileTheClientIsBusy(t *testing.T) {
	busy := true
	f := newFixture(t, Options{StatusInterval: 250 * time.Millisecond, ClientBusy: func() bool { return busy }})
	ds := newDaemonSet()
	f.add(ds)
	f.c.statusWritten.Store(dsKey, writtenStatus{uid: ds.UID, at: f.clock.Now().Add(-time.Second)})
	starting := daemonPod(ds, "p", "n1", notReady)
	ready := daemonPod(ds, "p", "n1")
	ready.ResourceVersion = "2"

	f.c.updatePod(starting, ready)
	checkQueue(t, "turned ready, client busy", f.c.queue)
	busy = false
	f.c.updatePod(starting, ready)
	checkQueue(t, "turned ready, client with tokens to spare", f.c.queue, dsKey)
}

// TestDaemonSetDeletedForgetsExpectations: a DaemonSet deleted (also seen
// as a tombstone) takes its expectations with it, so a new one of the same
// name does not wait for the old one's pods.
func TestDaemonSetDeletedForgetsExpectations(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	for what, obj := range map[string]interface{}{
		"deleted":   ds,
		"tombstone": cache.DeletedFinalStateUnknown{Key: dsKey, Obj: ds},
	} {
		f.c.expectations.Expect(dsKey, []string{"n1", "n2", "n3"}, []types.UID{"uid-p"})
		f.c.deleteDaemonSet(obj)
		if !f.c.expectations.Satisfied(dsKey) {
			t.Errorf("%s: the old DaemonSet's expectations are still waited for", what)
		}
		checkQueue(t, what, f.c.queue, dsKey)
	}
}
