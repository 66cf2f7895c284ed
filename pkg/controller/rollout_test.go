package controller

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestSyncRollingUpdateStepsWithinMaxUnavailable: a changed template makes
// one sync delete just maxUnavailable old pods; the next sync creates their
// replacements with the new hash; and pruning keeps revisionHistoryLimit.
func TestSyncRollingUpdateStepsWithinMaxUnavailable(t *testing.T) {
	f := newFixture(t, Options{})
	old := newDaemonSet()
	two := intstr.FromInt32(2)
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &two}
		ds.Generation = 2
	})
	f.add(ds, newNode("n1", true), newNode("n2", true), newNode("n3", true), newNode("n4", true),
		daemonPod(old, "p1", "n1"), daemonPod(old, "p2", "n2"), daemonPod(old, "p3", "n3"), daemonPod(old, "p4", "n4"))

	f.mustSync()
	if got := f.deletedPods(); len(got) != 2 {
		t.Fatalf("deleted %v, want 2 old pods (maxUnavailable 2)", got)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d pods in the deleting sync", n)
	}
	f.catchUp()
	f.mustSync()
	created := f.createdPods()
	if len(created) != 2 {
		t.Fatalf("created %d replacement pods, want 2", len(created))
	}
	for _, p := range created {
		if got, want := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey], hashOf(ds); got != want {
			t.Errorf("replacement has hash %q, want %q", got, want)
		}
	}
	// The replacements are not ready yet: no further old pod may go.
	// (catchUp clears the recorded actions.)
	f.catchUp()
	f.mustSync()
	if got := f.deletedPods(); len(got) != 0 {
		t.Fatalf("deleted %v while replacements are unavailable", got)
	}
}

func TestSyncOnDeleteTouchesNothing(t *testing.T) {
	f := newFixture(t, Options{})
	old := newDaemonSet()
	ds := newDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		ds.Generation = 2
	})
	f.add(ds, newNode("n1", true), daemonPod(old, "p1", "n1"))
	f.mustSync()
	if got := f.deletedPods(); len(got) != 0 {
		t.Fatalf("OnDelete deleted %v", got)
	}
	if s := f.apiDaemonSet().Status; s.UpdatedNumberScheduled != 0 || s.NumberAvailable != 1 || s.ObservedGeneration != 2 {
		t.Errorf("status %+v, want 0 updated, 1 available, generation 2 observed", s)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(1e9, 4e9) // 1 s doubling to 4 s
	now := start
	if w := b.wait("k", now); w != 0 {
		t.Fatalf("a new key waits %v", w)
	}
	var waits []int64
	for i := 0; i < 4; i++ {
		b.next("k", now)
		waits = append(waits, int64(b.wait("k", now)/1e9))
		now = now.Add(b.wait("k", now))
	}
	if want := []int64{1, 2, 4, 4}; !reflect.DeepEqual(waits, want) {
		t.Fatalf("delays %v s, want %v", waits, want)
	}
	// Quiet for twice the maximum: start over, and gc forgets the key.
	now = now.Add(9e9)
	b.gc(now)
	if len(b.entries) != 0 {
		t.Fatal("gc kept a quiet key")
	}
	b.next("k", now)
	if w := b.wait("k", now); w != 1e9 {
		t.Fatalf("after a quiet spell the delay is %v, want 1s", w)
	}
}

func TestAllowsSurge(t *testing.T) {
	ru := func(u, s string) *appsv1.DaemonSetUpdateStrategy {
		uu, ss := intstr.Parse(u), intstr.Parse(s)
		return &appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &uu, MaxSurge: &ss}}
	}
	cases := []struct {
		name     string
		strategy *appsv1.DaemonSetUpdateStrategy
		want     bool
	}{
		{"surge 1", ru("0", "1"), true},
		{"surge 10% rounds up", ru("0", "10%"), true},
		{"surge 0", ru("1", "0"), false},
		{"surge 0%", ru("1", "0%"), false},
		{"no rolling update parameters", &appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}, false},
		{"OnDelete", &appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}, false},
	}
	for _, tc := range cases {
		ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy = *tc.strategy })
		if got := allowsSurge(ds); got != tc.want {
			t.Errorf("%s: allowsSurge = %v, want %v", tc.name, got, tc.want)
		}
	}
}
