package controller

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/daemonset-controller/daemonset-controller/pkg/expectations"
	"github.com/daemonset-controller/daemonset-controller/pkg/history"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// daemonTolerations are the automatic tolerations of a non-hostNetwork pod.
var daemonTolerations = []v1.Toleration{
	{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
	{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
	{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodePIDPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
}

func controllerRef(ds *appsv1.DaemonSet) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: &t, BlockOwnerDeletion: &t}
}

func TestSyncCreatesBoundPods(t *testing.T) {
	f := newFixture(t, Options{})
	ownToleration := v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []v1.Toleration{ownToleration}
		// A required term of the template; the created pods must carry
		// only the term that binds them to their node.
		ds.Spec.Template.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpNotIn, Values: []string{"z9"}}},
			}}},
		}}
	})
	f.add(ds, newNode("n1", true), newNode("n2", true), newNode("n3", false))

	f.mustSync()

	hash := hashOf(ds)
	pods := f.createdPods()
	if len(pods) != 2 {
		t.Fatalf("created %d pods, want 2 (writes: %v)", len(pods), f.writes())
	}
	var nodes []string
	for _, pod := range pods {
		if pod.GenerateName != "ds-" || pod.Namespace != ns {
			t.Errorf("pod generateName/namespace = %q/%q, want ds-/%s", pod.GenerateName, pod.Namespace, ns)
		}
		wantLabels := map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash, "pod-template-generation": "1"}
		if !reflect.DeepEqual(pod.Labels, wantLabels) {
			t.Errorf("labels = %v, want %v", pod.Labels, wantLabels)
		}
		if want := []metav1.OwnerReference{controllerRef(ds)}; !reflect.DeepEqual(pod.OwnerReferences, want) {
			t.Errorf("ownerReferences = %+v, want %+v", pod.OwnerReferences, want)
		}
		if pod.Spec.NodeName != "" {
			t.Errorf("pod bound directly to %q; want binding by the scheduler", pod.Spec.NodeName)
		}
		terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 || len(terms[0].MatchFields) != 1 {
			t.Fatalf("required node affinity = %+v, want one matchFields term", terms)
		}
		mf := terms[0].MatchFields[0]
		if mf.Key != "metadata.name" || mf.Operator != v1.NodeSelectorOpIn || len(mf.Values) != 1 {
			t.Errorf("matchFields = %+v, want metadata.name In [node]", mf)
		}
		nodes = append(nodes, mf.Values[0])
		if want := append([]v1.Toleration{ownToleration}, daemonTolerations...); !reflect.DeepEqual(pod.Spec.Tolerations, want) {
			t.Errorf("tolerations =\n%+v\nwant\n%+v", pod.Spec.Tolerations, want)
		}
	}
	sort.Strings(nodes)
	if want := []string{"n1", "n2"}; !reflect.DeepEqual(nodes, want) {
		t.Errorf("pods target nodes %v, want %v", nodes, want)
	}
	if got := f.eventReasons(); got["Normal SuccessfulCreate"] != 2 || len(got) != 1 {
		t.Errorf("events = %v, want 2 SuccessfulCreate", got)
	}
	// The template of the DaemonSet itself is untouched.
	if got := f.apiDaemonSet().Spec.Template.Spec.Tolerations; !reflect.DeepEqual(got, []v1.Toleration{ownToleration}) {
		t.Errorf("DaemonSet template tolerations changed to %+v", got)
	}
}

func TestSyncCreatesControllerRevision(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds)

	f.mustSync()

	creates := f.actions("create", "controllerrevisions")
	if len(creates) != 1 {
		t.Fatalf("created %d revisions, want 1", len(creates))
	}
	rev := creates[0].(k8stesting.CreateAction).GetObject().(*appsv1.ControllerRevision)
	hash := hashOf(ds)
	if rev.Name != "ds-"+hash || rev.Namespace != ns || rev.Revision != 1 {
		t.Errorf("revision %s/%s #%d, want %s/ds-%s #1", rev.Namespace, rev.Name, rev.Revision, ns, hash)
	}
	if want := map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash}; !reflect.DeepEqual(rev.Labels, want) {
		t.Errorf("revision labels = %v, want %v", rev.Labels, want)
	}
	if want := []metav1.OwnerReference{controllerRef(ds)}; !reflect.DeepEqual(rev.OwnerReferences, want) {
		t.Errorf("revision ownerReferences = %+v, want %+v", rev.OwnerReferences, want)
	}
	data, _ := history.Patch(ds)
	if string(rev.Data.Raw) != string(data) {
		t.Errorf("revision data =\n%s\nwant\n%s", rev.Data.Raw, data)
	}

	// Once the cache has it, it is reused: no second revision.
	f.catchUp()
	f.mustSync()
	if got := f.actions("create", "controllerrevisions"); len(got) != 0 {
		t.Errorf("second sync created %d more revisions", len(got))
	}
}

func TestSyncDeletesPodsOnIneligibleNodes(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	tainted := newNode("tainted", true)
	tainted.Spec.Taints = []v1.Taint{{Key: "evict", Effect: v1.TaintEffectNoExecute}}
	cordonedish := newNode("noschedule", true)
	cordonedish.Spec.Taints = []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoSchedule}}
	f.add(ds, newNode("good", true), newNode("unlabelled", false), tainted, cordonedish,
		daemonPod(ds, "p-good", "good"),
		daemonPod(ds, "p-unlabelled", "unlabelled"),
		daemonPod(ds, "p-tainted", "tainted"),
		daemonPod(ds, "p-noschedule", "noschedule"),
	)

	f.mustSync()

	if got, want := f.deletedPods(), []string{"p-tainted", "p-unlabelled"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	for _, a := range f.actions("delete", "pods") {
		d := a.(k8stesting.DeleteAction)
		pre := d.GetDeleteOptions().Preconditions
		if pre == nil || pre.UID == nil || *pre.UID != types.UID("uid-"+d.GetName()) {
			t.Errorf("delete of %s without its UID precondition: %+v", d.GetName(), pre)
		}
	}
	if len(f.createdPods()) != 0 {
		t.Errorf("created pods: %v", f.writes())
	}
	if got := f.eventReasons(); got["Normal SuccessfulDelete"] != 2 {
		t.Errorf("events = %v, want 2 SuccessfulDelete", got)
	}
	if c, d := f.pending(); c != 0 || d != 2 {
		t.Errorf("pending expectations = (%d, %d), want (0, 2)", c, d)
	}
	// Deletions observed by the informer satisfy the expectations.
	f.catchUp()
	if !f.c.expectations.Satisfied(dsKey) {
		c, d := f.pending()
		t.Errorf("expectations not satisfied after the informer saw the deletions: (%d, %d)", c, d)
	}
}

func TestSyncDuplicatePodsKeepOldest(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true),
		daemonPod(ds, "older", "n1"),
		daemonPod(ds, "newer", "n1", func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(start) }),
	)
	f.mustSync()
	if got, want := f.deletedPods(), []string{"newer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
}

func TestSyncAdoptsOrphan(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "stray", "n1", orphan))

	f.mustSync()

	patches := f.actions("patch", "pods")
	if len(patches) != 1 {
		t.Fatalf("%d pod patches, want 1 (writes: %v)", len(patches), f.writes())
	}
	p := patches[0].(k8stesting.PatchAction)
	want := `{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet","name":"ds","uid":"ds-uid","controller":true,"blockOwnerDeletion":true}],"uid":"uid-stray"}}`
	if p.GetName() != "stray" || p.GetPatchType() != types.StrategicMergePatchType || string(p.GetPatch()) != want {
		t.Errorf("patch %s %s %s, want stray strategic %s", p.GetName(), p.GetPatchType(), p.GetPatch(), want)
	}
	if got := f.apiPod("stray").OwnerReferences; !reflect.DeepEqual(got, []metav1.OwnerReference{controllerRef(ds)}) {
		t.Errorf("adopted pod ownerReferences = %+v", got)
	}
	// Adoption checks the live DaemonSet first.
	if len(f.actions("get", "daemonsets")) != 1 {
		t.Errorf("want one live GET of the DaemonSet before adopting, got %d", len(f.actions("get", "daemonsets")))
	}
	// The adopted pod counts: nothing to create on its node.
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("created %d pods next to the adopted one", n)
	}
}

func TestSyncDoesNotAdoptFromDyingDaemonSet(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "stray", "n1", orphan))
	// The API server already knows the DaemonSet is being deleted; the
	// cache does not.
	dying := ds.DeepCopy()
	now := metav1.NewTime(start)
	dying.DeletionTimestamp = &now
	dying.Finalizers = []string{"test/keep"}
	if err := f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("daemonsets"), dying, ns); err != nil {
		t.Fatal(err)
	}

	if err := f.sync(); err == nil {
		t.Error("sync succeeded; want an error for the refused adoption")
	}
	for _, w := range f.writes() {
		if strings.HasSuffix(w, " pods") {
			t.Errorf("pod write %q for a DaemonSet the API server is deleting (writes: %v)", w, f.writes())
		}
	}
	if got := f.apiPod("stray").OwnerReferences; len(got) != 0 {
		t.Errorf("stray pod adopted: %+v", got)
	}
}

func TestSyncReleasesPodThatNoLongerMatches(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "relabelled", "n1", withLabels("app", "debug")))

	f.mustSync()

	patches := f.actions("patch", "pods")
	if len(patches) != 1 {
		t.Fatalf("%d pod patches, want 1 (writes: %v)", len(patches), f.writes())
	}
	p := patches[0].(k8stesting.PatchAction)
	want := `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"ds-uid"}],"uid":"uid-relabelled"}}`
	if p.GetName() != "relabelled" || p.GetPatchType() != types.StrategicMergePatchType || string(p.GetPatch()) != want {
		t.Errorf("patch %s %s %s, want relabelled strategic %s", p.GetName(), p.GetPatchType(), p.GetPatch(), want)
	}
	if got := f.apiPod("relabelled").OwnerReferences; len(got) != 0 {
		t.Errorf("released pod still has ownerReferences %+v", got)
	}
	// The released pod no longer counts: its node gets a new daemon pod.
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d pods, want 1 replacing the released one", n)
	}
	if len(f.deletedPods()) != 0 {
		t.Errorf("deleted %v; a released pod is left alone", f.deletedPods())
	}
}

func TestSyncLeavesOtherControllersPodsAlone(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	other := newDaemonSet(func(o *appsv1.DaemonSet) { o.Name, o.UID = "other", "other-uid" })
	f.add(ds, other, newNode("n1", true), daemonPod(other, "theirs", "n1"))

	f.mustSync()

	if got := f.actions("patch", "pods"); len(got) != 0 {
		t.Errorf("patched another controller's pod: %v", got)
	}
	if got := f.deletedPods(); len(got) != 0 {
		t.Errorf("deleted %v", got)
	}
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d pods, want 1 (the other pod is not ours)", n)
	}
}

func TestSyncFailedPodBackoff(t *testing.T) {
	f := newFixture(t, Options{})
	// Near the real time; TestSyncFailedPodBackoffUsesInjectedClock runs
	// the same scenario far from it.
	f.clock.now = time.Now()
	checkFailedPodBackoff(t, f)
}

// TestSyncFailedPodBackoffUsesInjectedClock is the same scenario with an
// injected clock far from the real one.
func TestSyncFailedPodBackoffUsesInjectedClock(t *testing.T) {
	f := newFixture(t, Options{})
	checkFailedPodBackoff(t, f)
}

func checkFailedPodBackoff(t *testing.T, f *fixture) {
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "first", "n1", inPhase(v1.PodFailed)))

	// First failure: deleted at once, with a warning.
	f.mustSync()
	if got, want := f.deletedPods(), []string{"first"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	events := f.events()
	if len(events) != 2 || !strings.HasPrefix(events[0], "Warning FailedDaemonPod Found failed daemon pod default/first on node n1") {
		t.Errorf("events = %q, want FailedDaemonPod then SuccessfulDelete", events)
	}
	if len(f.createdPods()) != 0 {
		t.Error("replacement created in the same sync as the failed pod's deletion")
	}

	// The informer sees the deletion; the next sync replaces the pod.
	f.catchUp()
	f.mustSync()
	created := f.createdPods()
	if len(created) != 1 {
		t.Fatalf("created %d pods, want the replacement", len(created))
	}
	f.catchUp()
	f.events()
	list, err := f.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("pods after the replacement: %v, %v", list, err)
	}

	// The replacement fails right away: its deletion waits for the backoff.
	replacement := list.Items[0].DeepCopy()
	replacement.Spec.NodeName = "n1" // bound by the scheduler, then failed
	replacement.Status.Phase = v1.PodFailed
	replacement.ResourceVersion = "99"
	f.setPod(replacement)
	f.client.ClearActions()
	f.mustSync()
	if got := f.deletedPods(); len(got) != 0 {
		t.Errorf("deleted %v within the backoff", got)
	}
	if got := f.events(); len(got) != 0 {
		t.Errorf("events within the backoff: %q", got)
	}

	// After the backoff it goes.
	f.clock.Advance(time.Minute)
	f.mustSync()
	if got, want := f.deletedPods(), []string{replacement.Name}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the backoff deleted %v, want %v", got, want)
	}
	if got := f.eventReasons(); got["Warning FailedDaemonPod"] != 1 {
		t.Errorf("events after the backoff = %v, want one FailedDaemonPod", got)
	}
}

func TestSyncFailedPodBackoffIsPerNode(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), newNode("n2", true), daemonPod(ds, "a", "n1", inPhase(v1.PodFailed)))
	f.mustSync()
	f.catchUp()
	// A failure on another node right away is not held back by n1's backoff.
	f.add(daemonPod(ds, "b", "n2", inPhase(v1.PodFailed)))
	f.client.ClearActions()
	f.mustSync()
	if got, want := f.deletedPods(), []string{"b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
}

func TestSyncDeletesSucceededPod(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "done", "n1", inPhase(v1.PodSucceeded)))
	f.mustSync()
	if got, want := f.deletedPods(), []string{"done"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	if got := f.eventReasons(); got["Normal SucceededDaemonPod"] != 1 {
		t.Errorf("events = %v, want SucceededDaemonPod", got)
	}
}

func TestSyncPodsOfUnknownNodes(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds,
		daemonPod(ds, "on-gone-node", "gone"),
		daemonPod(ds, "pending-for-gone-node", "gone2", unbound),
		daemonPod(ds, "on-new-node", "new"),
	)
	// "new" exists in the API server, the node cache has not seen it yet.
	f.addAPIOnly(newNode("new", true))

	f.mustSync()

	if got, want := f.deletedPods(), []string{"on-gone-node", "pending-for-gone-node"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	// A pod bound to a node that is gone has no kubelet to end it: it is
	// deleted at once. The never-scheduled one keeps its grace period.
	for _, a := range f.actions("delete", "pods") {
		d := a.(k8stesting.DeleteAction)
		grace := d.GetDeleteOptions().GracePeriodSeconds
		switch d.GetName() {
		case "on-gone-node":
			if grace == nil || *grace != 0 {
				t.Errorf("pod on a gone node deleted with grace period %v, want 0", grace)
			}
		case "pending-for-gone-node":
			if grace != nil {
				t.Errorf("pending pod deleted with grace period %d, want the pod's own", *grace)
			}
		}
	}
	if c, d := f.pending(); c != 0 || d != 2 {
		t.Errorf("pending = (%d, %d), want (0, 2)", c, d)
	}
}

func TestSyncStatus(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Generation = 2
		ds.Status.ObservedGeneration = 1
		ds.Spec.MinReadySeconds = 60
	})
	old := func(p *v1.Pod) { p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = "old-hash" }
	f.add(ds,
		newNode("available", true), newNode("fresh", true), newNode("empty", true),
		newNode("unready", true), newNode("wrong", false),
		daemonPod(ds, "p-available", "available"),
		daemonPod(ds, "p-fresh", "fresh", old, readyAt(start.Add(-30*time.Second))),
		daemonPod(ds, "p-unready", "unready", notReady),
		daemonPod(ds, "p-wrong", "wrong"),
	)

	f.mustSync()

	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 {
		t.Fatalf("%d status updates, want 1 (writes: %v)", len(updates), f.writes())
	}
	got := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status
	want := appsv1.DaemonSetStatus{
		ObservedGeneration:     2,
		DesiredNumberScheduled: 4, // available, fresh, empty, unready
		CurrentNumberScheduled: 3,
		NumberMisscheduled:     1, // wrong
		NumberReady:            2, // available, fresh
		UpdatedNumberScheduled: 2, // available, unready
		NumberAvailable:        1, // fresh is ready for 30s < minReadySeconds
		NumberUnavailable:      3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status =\n%+v\nwant\n%+v", got, want)
	}
	if got := f.apiDaemonSet().Status; !reflect.DeepEqual(got, want) {
		t.Errorf("stored status =\n%+v\nwant\n%+v", got, want)
	}
}

func TestSyncStatusWrittenOnlyWhenChanged(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 3 })
	f.add(ds, newNode("n1", true), newNode("n2", true),
		daemonPod(ds, "p1", "n1"), daemonPod(ds, "p2", "n2"))

	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("first sync: %d status updates, want 1", n)
	}
	st := f.apiDaemonSet().Status
	if st.ObservedGeneration != 3 || st.DesiredNumberScheduled != 2 || st.NumberAvailable != 2 || st.NumberUnavailable != 0 {
		t.Errorf("status after first sync = %+v", st)
	}

	// Nothing changed: nothing is written.
	f.catchUp()
	f.mustSync()
	if got := f.writes(); len(got) != 0 {
		t.Errorf("second sync wrote %v; want nothing", got)
	}

	// A change in the counts is written again.
	p2 := f.apiPod("p2")
	notReady(p2)
	p2.ResourceVersion = "42"
	f.setPod(p2)
	f.client.ClearActions()
	f.mustSync()
	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 {
		t.Fatalf("after a pod turned unready: %d status updates, want 1", len(updates))
	}
	if got := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status; got.NumberReady != 1 || got.NumberUnavailable != 1 {
		t.Errorf("status = %+v, want 1 ready and 1 unavailable", got)
	}
}

// TestSyncStatusIntervalHoldsProgress: within StatusInterval of the last
// write, a status that only reports progress waits for the end of the
// interval, and is then written with the counts of that moment; a new
// generation is written at once.
func TestSyncStatusIntervalHoldsProgress(t *testing.T) {
	f := newFixture(t, Options{StatusInterval: time.Second})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 3 })
	f.add(ds, newNode("n1", true), newNode("n2", true),
		daemonPod(ds, "p1", "n1"), daemonPod(ds, "p2", "n2"))
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("first sync: %d status updates, want 1", n)
	}
	f.catchUp()

	f.turnUnready("p2", "42")
	f.client.ClearActions()
	f.clock.Advance(400 * time.Millisecond)
	f.mustSync()
	if got := f.writes(); len(got) != 0 {
		t.Fatalf("a pod turned unready 0.4 s after the last write: wrote %v; want it held back", got)
	}
	if got := f.deferred("interval"); got != 1 {
		t.Errorf("status_writes_deferred_total{reason=interval} = %v, want 1", got)
	}

	f.clock.Advance(600 * time.Millisecond)
	f.mustSync()
	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 {
		t.Fatalf("at the end of the interval: %d status updates, want 1 (writes %v)", len(updates), f.writes())
	}
	if got := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status; got.NumberReady != 1 {
		t.Errorf("status = %+v, want 1 ready", got)
	}
	f.catchUp()

	fresh := f.apiDaemonSet()
	fresh.Generation = 4
	if _, err := f.client.AppsV1().DaemonSets(fresh.Namespace).Update(context.Background(), fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	f.clock.Advance(100 * time.Millisecond)
	f.mustSync()
	updates = f.actions("update", "daemonsets/status")
	if len(updates) != 1 || updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status.ObservedGeneration != 4 {
		t.Errorf("a new generation 0.1 s after the last write: status updates %v; want generation 4 observed at once", f.writes())
	}
}

// TestSyncStatusWaitsLongerWhileTheClientIsBusy: while the client is at
// its rate limit, a status that only reports progress waits
// busyStatusInterval after the last write, unless the client has tokens
// to spare again; a new desired count does not wait.
func TestSyncStatusWaitsLongerWhileTheClientIsBusy(t *testing.T) {
	busy := true
	f := newFixture(t, Options{StatusInterval: 250 * time.Millisecond, ClientBusy: func() bool { return busy }})
	ds := f.settledOnTwoNodes()

	f.turnUnready("p2", "42")
	f.client.ClearActions()
	f.clock.Advance(time.Second)
	f.mustSync()
	if got := f.writes(); len(got) != 0 {
		t.Fatalf("busy client, a pod turned unready 1 s after the last write: wrote %v; want it held back", got)
	}
	if b, i := f.deferred("busy"), f.deferred("interval"); b != 1 || i != 0 {
		t.Errorf("status_writes_deferred_total: busy %v, interval %v; want 1 and 0", b, i)
	}
	f.clock.Advance(busyStatusInterval - time.Second)
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("busy client, %v after the last write: %d status updates, want 1", busyStatusInterval, n)
	}
	f.catchUp()

	busy = false
	f.turnUnready("p1", "43")
	f.client.ClearActions()
	f.clock.Advance(time.Second)
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("client with tokens to spare, 1 s after the last write: %d status updates, want 1", n)
	}
	f.catchUp()

	// Within --status-interval, that interval holds progress back.
	back := daemonPod(ds, "p2", "n2")
	back.ResourceVersion = "44"
	f.setPod(back)
	f.client.ClearActions()
	f.clock.Advance(100 * time.Millisecond)
	f.mustSync()
	if got := f.writes(); len(got) != 0 {
		t.Fatalf("client with tokens to spare, a pod Ready again 0.1 s after the last write: wrote %v; want it held back", got)
	}
	if b, i := f.deferred("busy"), f.deferred("interval"); b != 1 || i != 1 {
		t.Errorf("status_writes_deferred_total: busy %v, interval %v; want 1 and 1", b, i)
	}
	f.clock.Advance(time.Second)
	f.mustSync()
	f.catchUp()

	busy = true
	f.add(newNode("n3", true))
	f.client.ClearActions()
	f.clock.Advance(100 * time.Millisecond)
	f.mustSync()
	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 || updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status.DesiredNumberScheduled != 3 {
		t.Errorf("busy client, a new node: status updates %v; want 3 desired written at once", f.writes())
	}
}

// A --status-interval longer than the busy interval is the one that holds
// progress back, busy client or not, and the limiter is not asked.
func TestSyncStatusIntervalLongerThanBusyIsTheReason(t *testing.T) {
	asked := 0
	f := newFixture(t, Options{StatusInterval: 2 * busyStatusInterval, ClientBusy: func() bool { asked++; return true }})
	f.settledOnTwoNodes()

	f.turnUnready("p2", "42")
	f.client.ClearActions()
	f.clock.Advance(busyStatusInterval + time.Second)
	f.mustSync()
	if got := f.writes(); len(got) != 0 {
		t.Fatalf("a pod turned unready %v after the last write: wrote %v; want it held back to %v", busyStatusInterval+time.Second, got, 2*busyStatusInterval)
	}
	if b, i := f.deferred("busy"), f.deferred("interval"); b != 0 || i != 1 {
		t.Errorf("status_writes_deferred_total: busy %v, interval %v; want 0 and 1", b, i)
	}
	if asked != 0 {
		t.Errorf("the rate limiter was asked %d times; want none, the status interval being the longer", asked)
	}
}

// settledOnTwoNodes adds a DaemonSet with a Ready pod on each of two
// nodes, syncs it (its first status write) and catches the cache up.
func (f *fixture) settledOnTwoNodes() *appsv1.DaemonSet {
	f.t.Helper()
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), newNode("n2", true),
		daemonPod(ds, "p1", "n1"), daemonPod(ds, "p2", "n2"))
	f.mustSync()
	f.catchUp()
	return ds
}

// turnUnready makes the API's pod name not Ready, at resourceVersion rv,
// and hands the change to the controller's cache and handlers.
func (f *fixture) turnUnready(name, rv string) {
	f.t.Helper()
	p := f.apiPod(name)
	notReady(p)
	p.ResourceVersion = rv
	f.setPod(p)
}

// deferred reads status_writes_deferred_total for reason.
func (f *fixture) deferred(reason string) float64 {
	return testutil.ToFloat64(f.c.metrics.StatusDeferred.WithLabelValues(reason))
}

func TestSyncStatusConflictIsRetried(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 2 })
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1"))
	var calls atomic.Int32
	f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && calls.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "ds", nil)
		}
		return false, nil, nil
	})

	f.mustSync()

	if n := len(f.actions("update", "daemonsets/status")); n != 2 {
		t.Errorf("%d status updates, want 2 (one conflict, one retry)", n)
	}
	st := f.apiDaemonSet().Status
	if st.ObservedGeneration != 2 || st.DesiredNumberScheduled != 1 || st.NumberReady != 1 {
		t.Errorf("status after retry = %+v", st)
	}
}

func TestSyncExpectationsBlockSecondCreate(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), newNode("n2", true))

	f.mustSync()
	if n := len(f.createdPods()); n != 2 {
		t.Fatalf("first sync created %d pods, want 2", n)
	}
	if c, d := f.pending(); c != 2 || d != 0 {
		t.Errorf("pending = (%d, %d), want (2, 0)", c, d)
	}

	// The pod cache has not caught up: a second sync must not create again.
	f.client.ClearActions()
	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("second sync before the cache caught up created %d more pods", n)
	}

	// The informer reports the pods: expectations are met and nothing more
	// is needed.
	f.catchUp()
	if !f.c.expectations.Satisfied(dsKey) {
		c, d := f.pending()
		t.Fatalf("expectations not satisfied after the pods were observed: (%d, %d)", c, d)
	}
	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("sync after catching up created %d pods", n)
	}
}

func TestSyncExpectationsExpire(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true))
	f.mustSync()
	f.client.ClearActions()

	// The watch event never comes. Within the TTL nothing happens ...
	f.clock.Advance(expectations.DefaultTTL)
	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d pods while expectations were pending", n)
	}
	// ... after it the DaemonSet is managed again.
	f.clock.Advance(time.Second)
	f.mustSync()
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d pods after the expectations expired, want 1", n)
	}
}

func TestSyncStatusWhileExpectationsPendingKeepsObservedGeneration(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true))
	f.mustSync()
	// The user changes the spec before the pod shows up.
	f.catchUp()
	changed := f.apiDaemonSet()
	changed.Generation = 2
	changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
	f.add(newNode("n2", true))
	if err := f.indexer(changed).Update(changed); err != nil {
		t.Fatal(err)
	}
	// Expectations stay unmet, with a deletion among them, so the sync
	// only waits (see TestSyncCreatesMoreWhileCreationsPending).
	f.c.expectations.Expect(dsKey, []string{"n1"}, []types.UID{"uid-unseen"})
	f.client.ClearActions()

	f.mustSync()

	if n := len(f.createdPods()); n != 0 {
		t.Errorf("created %d pods with expectations pending", n)
	}
	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 {
		t.Fatalf("%d status updates, want 1 (desired changed)", len(updates))
	}
	st := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status
	if st.ObservedGeneration != 1 || st.DesiredNumberScheduled != 2 {
		t.Errorf("status = %+v, want observedGeneration still 1 and desired 2", st)
	}
}

func TestSyncBurstReplicas(t *testing.T) {
	f := newFixture(t, Options{BurstReplicas: 2})
	ds := newDaemonSet()
	f.add(ds)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.add(newNode(n, true))
	}
	for _, n := range []string{"x", "y", "z"} {
		f.add(newNode(n, false), daemonPod(ds, "p-"+n, n))
	}

	f.mustSync()

	if n := len(f.createdPods()); n != 2 {
		t.Errorf("created %d pods, want the burst of 2", n)
	}
	if n := len(f.deletedPods()); n != 2 {
		t.Errorf("deleted %d pods, want the burst of 2", n)
	}
	if c, d := f.pending(); c != 2 || d != 2 {
		t.Errorf("pending = (%d, %d), want (2, 2)", c, d)
	}
}

// TestSyncCreatesMoreWhileCreationsPending: a sync whose only unmet
// expectations are its own creations, not yet in the cache, creates on the
// other nodes that need a pod, never on theirs, and deletes nothing and
// does not step a rollout until the cache has caught up. Then every node
// has exactly one pod.
func TestSyncCreatesMoreWhileCreationsPending(t *testing.T) {
	f := newFixture(t, Options{BurstReplicas: 2})
	ds := newDaemonSet()
	f.add(ds)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.add(newNode(n, true))
	}
	f.add(newNode("x", false), daemonPod(ds, "p-x", "x")) // to delete

	f.mustSync() // creates 2 and deletes 1 (the burst)
	if c, d := f.pending(); c != 2 || d != 1 {
		t.Fatalf("pending = (%d, %d), want (2, 1)", c, d)
	}
	f.mustSync() // a deletion is unmet too: only waits
	if n := len(f.createdPods()); n != 2 {
		t.Fatalf("created %d pods while a deletion was unmet, want still 2", n)
	}
	// The deletion is observed; the creations are not. Meanwhile another
	// pod turns up on a node that should not run one.
	if err := f.indexer(&v1.Pod{}).Delete(daemonPod(ds, "p-x", "x")); err != nil {
		t.Fatal(err)
	}
	f.c.deletePod(daemonPod(ds, "p-x", "x"))
	f.add(newNode("y", false), daemonPod(ds, "p-y", "y"))

	f.mustSync() // the next 2, on other nodes
	f.mustSync() // the last one
	f.mustSync() // nothing left to create
	created := map[string]int{}
	for _, p := range f.createdPods() {
		created[plan.TargetNode(p)]++
	}
	if want := map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}; !reflect.DeepEqual(created, want) {
		t.Fatalf("pods created per node %v, want %v", created, want)
	}
	if c, _ := f.pending(); c != 5 {
		t.Errorf("pending creations %d, want all 5 until the cache shows them", c)
	}
	if got := f.deletedPods(); len(got) != 1 {
		t.Errorf("deleted %v while creations were unseen, want only p-x", got)
	}

	f.catchUp()
	f.client.ClearActions()
	f.mustSync()
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("created %d more pods once the cache caught up", n)
	}
	if got := f.deletedPods(); len(got) != 1 {
		t.Errorf("deleted %v once the cache caught up, want p-y", got)
	}
}

// midRollout adds a rolling DaemonSet (maxUnavailable 3) whose template
// changed, with no pod on node a and pods of the old template on b and c.
func midRollout(f *fixture) *appsv1.DaemonSet {
	old := newDaemonSet()
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		three := intstr.FromInt32(3)
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &three}
	})
	f.add(ds, newNode("a", true), newNode("b", true), newNode("c", true),
		daemonPod(old, "old-b", "b"), daemonPod(old, "old-c", "c"))
	return ds
}

// TestSyncCreatesMoreDoesNotStepTheRollout: while creations are unseen, a
// rolling update deletes no old pod, even with room under maxUnavailable.
func TestSyncCreatesMoreDoesNotStepTheRollout(t *testing.T) {
	f := newFixture(t, Options{})
	ds := midRollout(f)
	f.c.expectations.Expect(dsKey, []string{"a"}, nil) // a's pod is on its way
	f.mustSync()
	if got := f.deletedPods(); len(got) != 0 {
		t.Errorf("the rollout stepped (deleted %v) while a creation was unseen", got)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("created %d pods; a's is on its way, b and c have theirs", n)
	}
	f.c.expectations.CreationObserved(dsKey, "a") // as if it showed up
	f.add(daemonPod(ds, "new-a", "a"))
	f.mustSync()
	if got := f.deletedPods(); len(got) != 2 {
		t.Errorf("deleted %v once the cache caught up, want both old pods (maxUnavailable 3)", got)
	}
}

// TestSyncStepsRolloutWhenWritesAreSeen: when the cache shows a sync's
// creations by the time they return, the same sync steps the rollout.
func TestSyncStepsRolloutWhenWritesAreSeen(t *testing.T) {
	f := newFixture(t, Options{})
	midRollout(f)
	// The watch delivers each created pod before the call returns.
	f.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
		pod.Name, pod.UID = "new-"+plan.TargetNode(pod), types.UID("uid-new-"+plan.TargetNode(pod))
		f.catchUpPod(pod.DeepCopy())
		return false, nil, nil
	})
	f.mustSync()
	if n := len(f.createdPods()); n != 1 {
		t.Fatalf("created %d pods, want 1 on a", n)
	}
	if got := f.deletedPods(); len(got) != 2 {
		t.Errorf("deleted %v in the creating sync, want both old pods (a's new pod is already seen; maxUnavailable 3)", got)
	}
}

// TestSyncCreatesMoreOnlyOnEmptyNodes: with surge, the plan replaces a
// Failed pod by creating beside it; while creations are unseen that waits
// for the full sync, so a pod the kubelet keeps failing is not recreated
// in a loop outside the failed-pod backoff.
func TestSyncCreatesMoreOnlyOnEmptyNodes(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		one := intstr.FromInt32(1)
		zero := intstr.FromInt32(0)
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}}
	})
	f.add(ds, newNode("a", true), newNode("b", true), newNode("c", true),
		daemonPod(ds, "failed-b", "b", inPhase(v1.PodFailed)))
	f.c.expectations.Expect(dsKey, []string{"a"}, nil) // a's pod is on its way
	f.mustSync()
	created := map[string]int{}
	for _, p := range f.createdPods() {
		created[plan.TargetNode(p)]++
	}
	if want := map[string]int{"c": 1}; !reflect.DeepEqual(created, want) {
		t.Errorf("created per node %v while a creation was unseen, want only on c (b holds a Failed pod)", created)
	}
}

// TestSyncCreateOutcomeUnknown: a creation that timed out may have made its
// pod, so its node gets no second one until the pod shows up or the
// expectation expires; any other failure is retried, as upstream does.
func TestSyncCreateOutcomeUnknown(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		retried bool // on the next sync, with other creations still unseen
	}{
		{"connection lost", errors.New("http2: client connection lost"), true},
		{"timeout", apierrors.NewTimeoutError("admission took too long", 1), false},
		{"refused by a webhook", apierrors.NewInternalError(errors.New("failed calling webhook")), true},
		{"quota", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("exceeded quota")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			ds := newDaemonSet()
			f.add(ds, newNode("a", true), newNode("b", true))
			var failed atomic.Bool
			f.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				pod := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
				if plan.TargetNode(pod) == "b" && failed.CompareAndSwap(false, true) {
					return true, nil, tt.err
				}
				return false, nil, nil
			})
			// Creation calls for node b, the failed one included.
			callsOnB := func() int {
				n := 0
				for _, p := range f.createdPods() {
					if plan.TargetNode(p) == "b" {
						n++
					}
				}
				return n
			}
			_ = f.sync() // a created, b failed
			f.c.createBackoff.resetUnlessSince(string(ds.UID), time.Time{})
			f.mustSync() // a still unseen
			if retried := callsOnB() == 2; retried != tt.retried || callsOnB() > 2 {
				t.Fatalf("%d creation calls for b; want retried %v", callsOnB(), tt.retried)
			}
			if tt.retried {
				return
			}
			f.catchUp() // a shows up; b's pod never does
			f.client.ClearActions()
			f.mustSync()
			if n := callsOnB(); n != 0 {
				t.Fatalf("%d creation calls for b before its expectation expired, want none", n)
			}
			f.clock.Advance(expectations.DefaultTTL + time.Second)
			f.mustSync()
			if n := callsOnB(); n != 1 {
				t.Errorf("%d creation calls for b after its expectation expired, want 1", n)
			}
		})
	}
}

// TestSyncSlowStart: one creation in flight at first; once it succeeds,
// provenWindow, and one more for each further success; after the first
// failure nothing new starts, so at most as many calls fail as there were
// successes plus provenWindow.
func TestSyncSlowStart(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		// failFrom is the first create call (1-based) that fails; every
		// later one fails too, like an exhausted quota.
		failFrom    int32
		wantCreated int
		// The calls made: at least every success and the first failure;
		// at most that plus the calls still in flight then (they depend
		// on which calls return first).
		minAttempts, maxAttempts int
	}{
		{"all succeed", 10, 1000, 10, 10, 10},
		{"first fails: nothing more is tried", 2 * provenWindow, 1, 0, 1, 1},
		// The first succeeds, so provenWindow start at once, and all fail.
		{"second call fails", 2 * provenWindow, 2, 1, 1 + provenWindow, 1 + provenWindow},
		// provenWindow+9 succeed; more may be in flight when the next fails.
		{"a call past the window fails", 2 * provenWindow, provenWindow + 10, provenWindow + 9, provenWindow + 10, 2 * provenWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			var calls atomic.Int32
			f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				if calls.Add(1) >= tt.failFrom {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errQuota)
				}
				return false, nil, nil
			})
			ds := newDaemonSet()
			f.add(ds)
			for i := range tt.nodes {
				f.add(newNode(fmt.Sprintf("n%d", i), true))
			}

			err := f.sync()

			attempts := len(f.actions("create", "pods"))
			if attempts < tt.minAttempts || attempts > tt.maxAttempts {
				t.Errorf("%d create calls, want %d to %d", attempts, tt.minAttempts, tt.maxAttempts)
			}
			pods, _ := f.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			if len(pods.Items) != tt.wantCreated {
				t.Errorf("%d pods exist, want %d", len(pods.Items), tt.wantCreated)
			}
			failed := attempts - tt.wantCreated
			if (err != nil) != (failed > 0) {
				t.Errorf("sync error = %v, want error: %v", err, failed > 0)
			}
			ev := f.eventReasons()
			if ev["Warning FailedCreate"] != failed || ev["Normal SuccessfulCreate"] != tt.wantCreated {
				t.Errorf("events = %v, want %d FailedCreate and %d SuccessfulCreate", ev, failed, tt.wantCreated)
			}
			if c, _ := f.pending(); c != tt.wantCreated {
				t.Errorf("pending creations = %d, want %d (only the pods really created)", c, tt.wantCreated)
			}
		})
	}
}

var errQuota = &quotaError{}

type quotaError struct{}

func (*quotaError) Error() string { return "exceeded quota" }

func TestSyncDaemonSetBeingDeleted(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		now := metav1.NewTime(start)
		ds.DeletionTimestamp = &now
		ds.Finalizers = []string{"test/keep"}
	})
	f.add(ds, newNode("n1", true), newNode("wrong", false),
		daemonPod(ds, "p-wrong", "wrong"), daemonPod(ds, "stray", "n1", orphan))

	f.mustSync()

	if got := f.client.Actions(); len(got) != 0 {
		t.Errorf("API calls for a DaemonSet being deleted: %v", f.writes())
	}
}

func TestSyncMissingDaemonSetForgetsExpectations(t *testing.T) {
	f := newFixture(t, Options{})
	f.c.expectations.Expect(dsKey, []string{"n1", "n2", "n3"}, nil)
	f.mustSync()
	if !f.c.expectations.Satisfied(dsKey) {
		t.Error("expectations of a deleted DaemonSet were kept")
	}
	if got := f.client.Actions(); len(got) != 0 {
		t.Errorf("API calls for a missing DaemonSet: %v", got)
	}
}

func TestSyncBadSelectors(t *testing.T) {
	tests := []struct {
		name     string
		selector *metav1.LabelSelector
		reason   string
	}{
		{"empty selector", &metav1.LabelSelector{}, "Warning SelectingAll"},
		{"invalid selector", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}, "Warning InvalidSelector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Selector = tt.selector })
			f.add(ds, newNode("n1", true))
			f.mustSync()
			if got := f.eventReasons(); got[tt.reason] != 1 {
				t.Errorf("events = %v, want %s", got, tt.reason)
			}
			if got := f.writes(); len(got) != 0 {
				t.Errorf("writes = %v, want none", got)
			}
		})
	}
}

func TestNewRejectsZeroBurst(t *testing.T) {
	f := newFixture(t, Options{})
	if _, err := New(f.client, f.factory, f.recorder, Options{BurstReplicas: 0}); err == nil {
		t.Error("New accepted BurstReplicas 0")
	}
}

func TestSyncHashCollisionBumpsCollisionCount(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true))
	// Another template's revision already holds the name ds-<hash>; the
	// cache has not seen it.
	f.addAPIOnly(&appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: history.Name(ds, hashOf(ds)), Namespace: ns},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace"}}}`)},
		Revision:   1,
	})

	if err := f.sync(); err == nil {
		t.Error("sync succeeded despite the collision")
	}
	if got := f.apiDaemonSet().Status.CollisionCount; got == nil || *got != 1 {
		t.Errorf("collisionCount = %v, want 1", got)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("created %d pods without a revision", n)
	}

	// With the new count the template hashes to a free name.
	f.catchUp()
	f.mustSync()
	cc := int32(1)
	creates := f.actions("create", "controllerrevisions")
	if len(creates) != 1 {
		t.Fatalf("%d revisions created after the collision, want 1", len(creates))
	}
	rev := creates[0].(k8stesting.CreateAction).GetObject().(*appsv1.ControllerRevision)
	if want := history.Name(ds, history.Hash(&ds.Spec.Template, &cc)); rev.Name != want {
		t.Errorf("revision %s, want %s", rev.Name, want)
	}
	for _, pod := range f.createdPods() {
		if got := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; got != history.Hash(&ds.Spec.Template, &cc) {
			t.Errorf("pod hash label %q, want the hash with collisionCount 1", got)
		}
	}
}

func TestSyncHostNetworkPodsTolerateNetworkUnavailable(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true })
	n := newNode("n1", true)
	n.Spec.Taints = []v1.Taint{{Key: v1.TaintNodeNetworkUnavailable, Effect: v1.TaintEffectNoSchedule}}
	f.add(ds, n)
	f.mustSync()
	pods := f.createdPods()
	if len(pods) != 1 {
		t.Fatalf("created %d pods on a network-unavailable node, want 1 for hostNetwork", len(pods))
	}
	want := append(append([]v1.Toleration(nil), daemonTolerations...),
		v1.Toleration{Key: v1.TaintNodeNetworkUnavailable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})
	if !reflect.DeepEqual(pods[0].Spec.Tolerations, want) {
		t.Errorf("tolerations =\n%+v\nwant\n%+v", pods[0].Spec.Tolerations, want)
	}
}

// A sync that runs before the cache has the controller's own status write
// must not write the same status again from the stale object.
func TestSyncStatusNotRewrittenFromStaleCache(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 2; ds.ResourceVersion = "10" })
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1"))
	f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			a.(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).ResourceVersion = "11"
		}
		return false, nil, nil
	})
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("first sync: %d status updates, want 1", n)
	}
	revs, err := f.client.AppsV1().ControllerRevisions(ds.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range revs.Items { // the revision cache catches up, the DaemonSet cache does not
		if err := f.indexer(&revs.Items[i]).Add(&revs.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	f.client.ClearActions()
	f.mustSync() // the DaemonSet cache still holds resourceVersion 10
	if got := f.writes(); len(got) != 0 {
		t.Errorf("sync from the stale cache wrote %v; want nothing", got)
	}

	// Counts that differ from the last write are written, stale or not.
	p1 := f.apiPod("p1")
	notReady(p1)
	p1.ResourceVersion = "12"
	f.setPod(p1)
	f.client.ClearActions()
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Errorf("after a pod turned unready: %d status updates, want 1", n)
	}
}

// A conflict whose fresh object already holds the status (an earlier write
// of ours) ends the write instead of repeating it.
func TestSyncStatusConflictWithStatusAlreadyThere(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 2 })
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1"))
	fresh := ds.DeepCopy()
	fresh.Status = appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
		NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}
	if err := f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("daemonsets"), fresh, fresh.Namespace); err != nil {
		t.Fatal(err)
	}
	f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "ds", nil)
		}
		return false, nil, nil
	})
	f.mustSync()
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Errorf("%d status updates, want 1 (the conflict, then nothing)", n)
	}
	if n := len(f.actions("get", "daemonsets")); n != 1 {
		t.Errorf("%d gets, want 1", n)
	}
}

func TestOlderThan(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"9", "10", true}, {"10", "10", false}, {"11", "10", false}, {"", "10", false}, {"x", "10", false}} {
		if got := olderThan(tc.a, tc.b); got != tc.want {
			t.Errorf("olderThan(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestSyncResumesAfterBurst: a sync cut short by --burst-replicas, with
// every creation made, lets the next sync start with as many creations in
// flight as it had reached, instead of one.
func TestSyncResumesAfterBurst(t *testing.T) {
	f := newFixture(t, Options{BurstReplicas: 4})
	f.add(newDaemonSet())
	for i := range 10 {
		f.add(newNode(fmt.Sprintf("n%d", i), true))
	}
	f.mustSync()
	if n := len(f.createdPods()); n != 4 {
		t.Fatalf("created %d pods, want the burst of 4", n)
	}
	f.catchUp()
	// Every creation now fails, so the calls made show how many started
	// at once: all 4 of the burst, not the 1 of a fresh slow start.
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errQuota)
	})
	// Cut again, the sync leaves its creations in flight and returns;
	// their failures come back through the background step.
	if err := f.sync(); err != nil {
		t.Errorf("the cut sync returned %v; its creations' failures are the background step's", err)
	}
	if n := len(f.actions("create", "pods")); n != 4 {
		t.Errorf("%d create calls in the second sync, want 4 (resumed)", n)
	}
	// That step puts creations off, requeues the DaemonSet with the rate
	// limiter as a failed sync would, and the third sync starts from one.
	if wait := f.c.createBackoff.wait("ds-uid", f.clock.Now()); wait != time.Second {
		t.Errorf("creation backoff %v after refused creations, want 1s", wait)
	}
	if n := f.c.queue.NumRequeues(dsKey); n != 1 {
		t.Errorf("%d rate-limited requeues after the failures, want 1", n)
	}
	if _, ok := f.c.failedBehind.Load(dsKey); !ok {
		t.Error("the background failure is not kept for the next sync to report")
	}
	hash := f.createdPods()[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if got := f.c.takeResume(newDaemonSet(), hash); got != 1 {
		t.Errorf("a failed sync left a resume of %d", got)
	}
}

// TestBackgroundFailureFailsTheNextSync: a failure of creations that a
// sync left in flight is reported by the next sync as its own, so the
// workqueue's backoff keeps growing rather than being reset (Forget) by
// that sync's success; a sync after that, with nothing failed, resets it.
func TestBackgroundFailureFailsTheNextSync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.add(newDaemonSet())
	boom := apierrors.NewInternalError(errors.New("etcd timeout"))
	for i := 1; i <= 3; i++ {
		f.c.failedInBackground(ctx, dsKey, boom) // requeues dsKey with backoff
		f.c.processNext(ctx)
		if n := f.c.queue.NumRequeues(dsKey); n != 2*i {
			t.Fatalf("after background failure %d and the sync that reported it: %d requeues, want %d", i, n, 2*i)
		}
	}
	if got := testutil.ToFloat64(f.c.metrics.Syncs.WithLabelValues("error")); got != 3 {
		t.Errorf("syncs_total{result=error} = %v, want 3", got)
	}
	f.c.processNext(ctx) // the last failed sync's requeue; nothing failed since
	if n := f.c.queue.NumRequeues(dsKey); n != 0 {
		t.Errorf("%d requeues after a sync with nothing failed, want 0", n)
	}
}

// TestSyncStatusFromOwnLastWrite: while the cache still shows the
// DaemonSet from before this controller's last status write, the next
// write starts from what that write returned, and so does not conflict.
func TestSyncStatusFromOwnLastWrite(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.ResourceVersion = "10" })
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1", notReady))
	// The API server's resourceVersion, enforced as on a real one.
	server := 10
	f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		obj := a.(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).DeepCopy()
		if obj.ResourceVersion != strconv.Itoa(server) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "ds", nil)
		}
		server++
		obj.ResourceVersion = strconv.Itoa(server)
		return true, obj, nil
	})

	f.mustSync() // writes the status: resourceVersion 11, not yet in the cache
	f.setPod(daemonPod(ds, "p1", "n1"))
	f.clock.Advance(time.Second) // past the hold on progress-only writes
	f.client.ClearActions()
	f.mustSync()

	updates := f.actions("update", "daemonsets/status")
	if len(updates) != 1 || len(f.actions("get", "daemonsets")) != 0 {
		t.Fatalf("status writes %v; want one write, no conflict and no read", f.writes())
	}
	got := updates[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet)
	if got.ResourceVersion != "11" || got.Status.NumberReady != 1 {
		t.Errorf("wrote from resourceVersion %s with %d ready; want 11 and 1", got.ResourceVersion, got.Status.NumberReady)
	}
}

// TestSyncCutLeavesCreationsInFlight: a sync cut short by --burst-replicas
// returns once all its creations have started, without waiting for the
// slowest; the next sync creates beside them, on other nodes, and when
// they return no node has two pods.
func TestSyncCutLeavesCreationsInFlight(t *testing.T) {
	f := newFixture(t, Options{BurstReplicas: 4})
	f.add(newDaemonSet())
	for i := range 10 {
		f.add(newNode(fmt.Sprintf("n%d", i), true))
	}
	// The first call returns at once (opening the window); the next three
	// hang until released. (They hang outside the fake clientset, whose
	// reactors run under its lock.)
	release := make(chan struct{})
	var calls atomic.Int32
	f.c.client = hangingCreates{Interface: f.c.client, hang: func(context.Context) {
		if n := calls.Add(1); n >= 2 && n <= 4 {
			<-release
		}
	}}
	returned := make(chan error, 1)
	go func() { returned <- f.c.sync(context.Background(), dsKey) }()
	select {
	case err := <-returned:
		if err != nil && !errors.Is(err, errWaiting) {
			t.Fatalf("first sync: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the cut sync waited for its slowest creations")
	}
	if err := f.c.sync(context.Background(), dsKey); err != nil && !errors.Is(err, errWaiting) {
		t.Fatalf("second sync: %v", err)
	}
	close(release)
	f.c.tails.Wait()
	nodes := map[string]int{}
	for _, pod := range f.createdPods() {
		nodes[plan.TargetNode(pod)]++
	}
	if len(nodes) != 8 {
		t.Errorf("pods on %d nodes after two syncs, want 8 (two bursts of 4): %v", len(nodes), nodes)
	}
	for n, count := range nodes {
		if count > 1 {
			t.Errorf("%d pods created on %s", count, n)
		}
	}
}

// TestSyncCutLeavesStatusToTheNextSync: a sync cut short by
// --burst-replicas, once one of its creations has answered, writes no
// status and queues the DaemonSet at once, so that the next batch starts
// while the API server still has this one's creations. The last batch
// writes the status; so does a cut sync whose status must show a new
// generation, or has been held for maxStatusHold. A sync that started its
// whole burst with none answered is left to its pods' events, as before:
// queued at once, each sync would start the next unanswered.
func TestSyncCutLeavesStatusToTheNextSync(t *testing.T) {
	type step struct {
		advance       time.Duration
		created       int // in all, so far
		statusWritten bool
		queued        bool
	}
	const wide = provenWindow + 2 // a burst the sync waits for answers within
	for _, tt := range []struct {
		name  string
		burst int
		nodes int
		ds    *appsv1.DaemonSet
		steps []step
	}{
		{"held until the last batch", wide, 3*wide + 1, newDaemonSet(), []step{
			{0, wide, false, true}, {0, 2 * wide, false, true}, {0, 3 * wide, false, true}, {0, 3*wide + 1, true, false}}},
		{"a new generation is written at once", wide, 3*wide + 1, newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 2 }), []step{
			{0, wide, true, true}}},
		{"held for maxStatusHold at most", wide, 3*wide + 1, newDaemonSet(), []step{
			{0, wide, false, true}, {maxStatusHold - time.Second, 2 * wide, false, true}, {time.Second, 3 * wide, true, true}}},
		// The first sync's proving creation answers; the second starts
		// both unanswered.
		{"a burst within the window", 2, 5, newDaemonSet(), []step{
			{0, 2, false, true}, {0, 4, true, false}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{BurstReplicas: tt.burst})
			f.add(tt.ds)
			for i := range tt.nodes {
				f.add(newNode(fmt.Sprintf("n%d", i), true))
			}
			created := 0
			for i, st := range tt.steps {
				f.clock.Advance(st.advance)
				for f.c.queue.Len() > 0 {
					k, _ := f.c.queue.Get()
					f.c.queue.Done(k)
				}
				f.client.ClearActions()
				f.mustSync() // the cache never catches up: each batch is createMore's
				if created += len(f.createdPods()); created != st.created {
					t.Fatalf("sync %d: %d pods created in all, want %d", i+1, created, st.created)
				}
				written := len(f.actions("update", "daemonsets/status")) > 0
				if written != st.statusWritten {
					t.Errorf("sync %d: status written = %v, want %v", i+1, written, st.statusWritten)
				}
				if queued := f.c.queue.Len() > 0; queued != st.queued {
					t.Errorf("sync %d: queued at once = %v, want %v", i+1, queued, st.queued)
				}
				// The next batch resumes wide after a cut queued at once only.
				if v, ok := f.c.resume.Load(dsKey); ok && v.(resumeAt).cut != st.queued {
					t.Errorf("sync %d: resume marked as a cut = %v, want %v", i+1, v.(resumeAt).cut, st.queued)
				}
			}
		})
	}
}

// hangingCreates calls hang before each pod creation.
type hangingCreates struct {
	kubernetes.Interface
	hang func(context.Context)
}

func (h hangingCreates) CoreV1() typedcorev1.CoreV1Interface {
	return hangingCore{h.Interface.CoreV1(), h.hang}
}

type hangingCore struct {
	typedcorev1.CoreV1Interface
	hang func(context.Context)
}

func (h hangingCore) Pods(namespace string) typedcorev1.PodInterface {
	return hangingPods{h.CoreV1Interface.Pods(namespace), h.hang}
}

type hangingPods struct {
	typedcorev1.PodInterface
	hang func(context.Context)
}

func (h hangingPods) Create(ctx context.Context, pod *v1.Pod, opts metav1.CreateOptions) (*v1.Pod, error) {
	h.hang(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err // given up before it was sent
	}
	return h.PodInterface.Create(ctx, pod, opts)
}

// TestSyncGivesUpCreationsBeforeTheirExpectationExpires: a creation that
// cannot go out (here: it hangs, as behind a long rate-limiter queue) is
// given up within createTimeout, and its node is released, so the next
// sync creates there without risking a second pod from a late request.
func TestSyncGivesUpCreationsBeforeTheirExpectationExpires(t *testing.T) {
	defer func(d time.Duration) { createTimeout = d }(createTimeout)
	createTimeout = 50 * time.Millisecond
	f := newFixture(t, Options{})
	f.add(newDaemonSet(), newNode("n1", true))
	f.c.client = hangingCreates{Interface: f.c.client, hang: func(ctx context.Context) { <-ctx.Done() }}
	if err := f.sync(); err == nil {
		t.Fatal("the sync reported no error for a creation given up")
	}
	if c, _ := f.pending(); c != 0 {
		t.Errorf("%d creations still expected after the creation was given up, want 0", c)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Errorf("%d pods created, want 0", n)
	}
}

// TestFinishCreationsKeepsNewerState: a sync's creations finishing in the
// background after a newer sync of the same DaemonSet failed do not undo
// that sync's backoff with their successes, nor drop the window it left
// with their own failures.
func TestFinishCreationsKeepsNewerState(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	uid := string(ds.UID)
	finish := func(results ...error) {
		t.Helper()
		cs := &creations{results: make(chan error, len(results)), release: func() {}, began: f.clock.Now()}
		cs.resume = resumeAt{uid: ds.UID, batch: 64, at: f.clock.Now()}
		f.c.resume.Store(dsKey, cs.resume)
		f.clock.Advance(time.Second)
		// A newer sync fails and leaves its own window while these are in flight.
		f.c.createBackoff.next(uid, f.clock.Now())
		f.c.resume.Store(dsKey, resumeAt{uid: ds.UID, batch: 8, at: f.clock.Now()})
		for _, err := range results {
			cs.inFlight++
			cs.results <- err
		}
		_ = f.c.finishCreations(ds, cs)
	}

	finish(nil) // one success
	if wait := f.c.createBackoff.wait(uid, f.clock.Now()); wait != time.Second {
		t.Errorf("backoff %v after an older sync's success, want the newer failure's 1s", wait)
	}
	finish(apierrors.NewInternalError(errors.New("etcd timeout")))
	if got := f.c.takeResume(ds, ""); got != 8 {
		t.Errorf("resume %d after an older sync's failure, want the newer sync's 8", got)
	}
}

// TestFailedCreationKeepsARecreatedDaemonSetsExpectation: a creation of a
// deleted DaemonSet that fails after one of the same name took its place
// (it finished in the background) does not release the new one's node.
func TestFailedCreationKeepsARecreatedDaemonSetsExpectation(t *testing.T) {
	f := newFixture(t, Options{})
	old := newDaemonSet()
	f.add(newDaemonSet(func(ds *appsv1.DaemonSet) { ds.UID = "ds-uid-2" }), newNode("n1", true))
	f.c.expectations.Expect(dsKey, []string{"n1"}, nil) // the new one's creation on n1
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("failed calling webhook"))
	})
	if err := f.c.createPod(context.Background(), old, podTemplate(old, ""), "n1"); err == nil {
		t.Fatal("the creation succeeded; the test needs it to fail")
	}
	if nodes, _ := f.c.expectations.CreatingOn(dsKey); !nodes["n1"] {
		t.Errorf("the old DaemonSet's failure released the new one's creation on n1")
	}
}

// TestSyncStopsCreatingForADeletedDaemonSet: a DaemonSet deleted while its
// sync creates pods gets no more of them; they would have no owner.
func TestSyncStopsCreatingForADeletedDaemonSet(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds)
	for i := range 10 {
		f.add(newNode(fmt.Sprintf("n%d", i), true))
	}
	// The DaemonSet leaves the cache as its first creation is answered,
	// before the slow start lets a second one go.
	var calls atomic.Int32
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) == 1 {
			if err := f.indexer(ds).Delete(ds); err != nil {
				t.Error(err)
			}
		}
		return false, nil, nil
	})
	_ = f.sync()
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("%d pods created for a deleted DaemonSet, want only the first", n)
	}
}
