package controller

import (
	"bytes"
	"reflect"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/daemonset-controller/daemonset-controller/pkg/history"
)

// revisionOf returns a revision of ds's current template, owned by ds.
func revisionOf(t *testing.T, ds *appsv1.DaemonSet, name, hash string, number int64) *appsv1.ControllerRevision {
	t.Helper()
	data, err := history.Patch(ds)
	if err != nil {
		t.Fatal(err)
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: k8stypes.UID("uid-" + name),
			Labels:          map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}
}

func (f *fixture) names(verb, resource string) []string {
	var out []string
	for _, a := range f.actions(verb, resource) {
		switch a := a.(type) {
		case k8stesting.DeleteAction:
			out = append(out, a.GetName())
		case k8stesting.UpdateAction:
			out = append(out, a.GetObject().(metav1.Object).GetName())
		case k8stesting.PatchAction:
			out = append(out, a.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// Two revisions hold the current template: the newer is kept, pods of the
// other are relabelled to its hash, and once the cache shows that, the
// other is deleted. The relabelled pod is never rolled.
func TestSyncDedupsRevisions(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	pod := daemonPod(ds, "p1", "n1")
	pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = "dup"
	f.add(ds, newNode("n1", true), pod,
		revisionOf(t, ds, "ds-dup", "dup", 1), revisionOf(t, ds, "ds-keep", "keep", 2))
	f.mustSync()
	if got := f.names("patch", "pods"); !reflect.DeepEqual(got, []string{"p1"}) {
		t.Errorf("relabelled pods %v, want [p1]", got)
	}
	if got := f.names("delete", "controllerrevisions"); len(got) != 0 {
		t.Errorf("deleted revisions %v before the cache saw the relabel", got)
	}
	f.catchUp()
	f.mustSync()
	if got := f.names("delete", "controllerrevisions"); !reflect.DeepEqual(got, []string{"ds-dup"}) {
		t.Errorf("deleted revisions %v, want [ds-dup]", got)
	}
	if got := f.apiPod("p1").Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; got != "keep" {
		t.Errorf("p1 has hash %q, want keep", got)
	}
	if got := f.deletedPods(); len(got) != 0 {
		t.Errorf("deleted pods %v: the relabelled pod was rolled", got)
	}
}

// A rollback writes an old template back: its revision becomes the newest
// (renumbered), no new revision is made, and its pods count as updated.
func TestSyncRollbackRenumbersRevision(t *testing.T) {
	f := newFixture(t, Options{})
	old := newDaemonSet()
	other := newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	ds := newDaemonSet(func(d *appsv1.DaemonSet) { d.Generation = 3 }) // back to agent:1
	f.add(ds, newNode("n1", true), daemonPod(old, "p1", "n1"),
		revisionOf(t, old, "ds-one", hashOf(old), 1), revisionOf(t, other, "ds-two", hashOf(other), 2))
	f.mustSync()
	if n := len(f.actions("create", "controllerrevisions")); n != 0 {
		t.Errorf("created %d revisions on rollback, want 0", n)
	}
	upd := f.actions("update", "controllerrevisions")
	if len(upd) != 1 {
		t.Fatalf("%d revision updates, want 1", len(upd))
	}
	if rev := upd[0].(k8stesting.UpdateAction).GetObject().(*appsv1.ControllerRevision); rev.Name != "ds-one" || rev.Revision != 3 {
		t.Errorf("updated %s to revision %d, want ds-one to 3", rev.Name, rev.Revision)
	}
	if len(f.deletedPods()) != 0 || len(f.createdPods()) != 0 {
		t.Error("the rollback touched a pod that already runs the restored template")
	}
	if s := f.apiDaemonSet().Status; s.UpdatedNumberScheduled != 1 {
		t.Errorf("updated %d, want 1", s.UpdatedNumberScheduled)
	}
}

// Old revisions beyond revisionHistoryLimit go oldest first, except one a
// pod still runs.
func TestSyncPrunesHistory(t *testing.T) {
	f := newFixture(t, Options{})
	var olds []*appsv1.DaemonSet
	for _, img := range []string{"agent:a", "agent:b", "agent:c", "agent:d"} {
		olds = append(olds, newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = img }))
	}
	limit := int32(1)
	ds := newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.RevisionHistoryLimit = &limit })
	objs := []runtime.Object{ds, newNode("n1", true), newNode("n2", true),
		daemonPod(ds, "p1", "n1"), daemonPod(olds[0], "p2", "n2"), // p2 still runs revision 1
		revisionOf(t, ds, "ds-cur", hashOf(ds), 5)}
	for i, o := range olds {
		objs = append(objs, revisionOf(t, o, "ds-old"+string(rune('1'+i)), hashOf(o), int64(i+1)))
	}
	f.add(objs...)
	f.mustSync()
	// Four old revisions, limit one: three go, oldest first, skipping
	// ds-old1, which p2 runs.
	if got := f.names("delete", "controllerrevisions"); !reflect.DeepEqual(got, []string{"ds-old2", "ds-old3", "ds-old4"}) {
		t.Errorf("pruned %v, want [ds-old2 ds-old3 ds-old4]", got)
	}
}

// TestRevisionDataFollowsGeneration: the revision data is encoded once per
// generation, and a new generation (a changed template) is encoded again.
func TestRevisionDataFollowsGeneration(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	first, err := f.c.revisionData(ds)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.c.revisionData(ds)
	if &first[0] != &again[0] {
		t.Error("the same generation was encoded twice")
	}
	ds = ds.DeepCopy()
	ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
	ds.Generation++
	changed, _ := f.c.revisionData(ds)
	want, _ := history.Patch(ds)
	if !bytes.Equal(changed, want) {
		t.Errorf("after a new generation: %s, want %s", changed, want)
	}
	other := ds.DeepCopy()
	other.UID = "recreated"
	other.Spec.Template.Spec.Containers[0].Image = "agent:3"
	got, _ := f.c.revisionData(other)
	want, _ = history.Patch(other)
	if !bytes.Equal(got, want) {
		t.Errorf("a DaemonSet recreated under the same name got the old one's data: %s", got)
	}
}
