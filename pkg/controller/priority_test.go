package controller

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
