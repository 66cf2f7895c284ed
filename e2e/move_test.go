package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// TestMoveFromBuiltIn: kube-controller-manager's own DaemonSet controller
// creates and updates a DaemonSet on 20 nodes; then it is switched off and
// ours takes over. Not one pod is created or deleted, no ControllerRevision
// appears and the status stays as it was, because ours names and hashes
// revisions exactly as upstream does. Then an update rolls out under ours.
func TestMoveFromBuiltIn(t *testing.T) {
	ctx := context.Background()
	nodes := groupNodes("move", 20)
	isolatedNodes(t, "move", nodes)
	createNamespace(t, "move")

	stopController()
	if err := tb.RestartKCM("*"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.RestartKCM("*,-daemonset-controller"); err != nil {
			t.Error(err)
		}
		stopController()
		if err := restartController(); err != nil {
			t.Error(err)
		}
	})
	ds := createDaemonSet(t, rolloutDaemonSet("move", "agent", "move", "25%", "0"))
	eventually(t, 3*time.Minute, "the built-in controller's pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 3*time.Minute, "the built-in controller's rollout done", rolledOut(ds, nodes, "registry.example/daemon:2"))
	if err := tb.RestartKCM("*,-daemonset-controller"); err != nil {
		t.Fatal(err)
	}

	before, err := tb.Client.AppsV1().DaemonSets("move").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := tb.Client.CoreV1().Pods("move").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := tb.Client.AppsV1().ControllerRevisions("move").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Fatalf("the built-in controller left %d revisions, want 2", len(revs.Items))
	}
	changes := watchChanges(t, pods, revs)

	if err := restartController("-v=4"); err != nil {
		t.Fatal(err)
	}
	synced := func(n int) func(context.Context) string {
		return func(context.Context) string {
			data, err := os.ReadFile(currentController().Log)
			if err != nil || strings.Count(string(data), `"Synced" daemonset="move/agent"`) < n {
				return "not yet"
			}
			return ""
		}
	}
	eventually(t, time.Minute, "our controller synced move/agent", synced(1))
	// A second sync, prompted by an annotation (no spec change), sees
	// whatever the first one wrote.
	if _, err := tb.Client.AppsV1().DaemonSets("move").Patch(ctx, "agent", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"e2e.daemonset-controller/poke":"1"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "our controller synced move/agent again", synced(2))
	// Let any change it would make reach the watchers.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		checkController(t)
		time.Sleep(200 * time.Millisecond)
	}
	if c := changes(); len(c) > 0 {
		t.Fatalf("taking over changed the cluster: %v", c)
	}
	after, err := tb.Client.AppsV1().DaemonSets("move").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if before.Status.String() != after.Status.String() {
		t.Errorf("status changed on take-over:\nbefore %s\nafter  %s", before.Status.String(), after.Status.String())
	}

	setImage(t, ds, "registry.example/daemon:3")
	eventually(t, 3*time.Minute, "our rollout done", rolledOut(ds, nodes, "registry.example/daemon:3"))
	revs, err = tb.Client.AppsV1().ControllerRevisions("move").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 3 {
		t.Errorf("%d revisions after our update, want 3", len(revs.Items))
	}
}

// watchChanges records every pod or revision that is added beyond those
// given, deleted, starts terminating, or has its labels, owners or
// revision number changed (a relabel or renumbering is a change too).
func watchChanges(t *testing.T, pods *v1.PodList, revs *appsv1.ControllerRevisionList) func() []string {
	known := map[types.UID]string{}
	for i := range pods.Items {
		known[pods.Items[i].UID] = fingerprint(&pods.Items[i])
	}
	for i := range revs.Items {
		known[revs.Items[i].UID] = fingerprint(&revs.Items[i])
	}
	var mu sync.Mutex
	var changes []string
	record := func(w watch.Interface) {
		for ev := range w.ResultChan() {
			m, ok := ev.Object.(metav1.Object)
			if !ok {
				continue
			}
			mu.Lock()
			switch {
			case ev.Type == watch.Deleted:
				changes = append(changes, fmt.Sprintf("%T %s deleted", ev.Object, m.GetName()))
			case known[m.GetUID()] == "":
				changes = append(changes, fmt.Sprintf("%T %s created", ev.Object, m.GetName()))
			case m.GetDeletionTimestamp() != nil:
				changes = append(changes, fmt.Sprintf("%T %s terminating", ev.Object, m.GetName()))
			case known[m.GetUID()] != fingerprint(ev.Object):
				changes = append(changes, fmt.Sprintf("%T %s relabelled, re-owned or renumbered", ev.Object, m.GetName()))
			}
			mu.Unlock()
		}
	}
	pw, err := tb.Client.CoreV1().Pods("move").Watch(context.Background(), metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	rw, err := tb.Client.AppsV1().ControllerRevisions("move").Watch(context.Background(), metav1.ListOptions{ResourceVersion: revs.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pw.Stop)
	t.Cleanup(rw.Stop)
	go record(pw)
	go record(rw)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), changes...)
	}
}

// fingerprint is what a take-over must not change about an object.
func fingerprint(obj runtime.Object) string {
	m := obj.(metav1.Object)
	f := fmt.Sprint(m.GetLabels(), m.GetOwnerReferences())
	if r, ok := obj.(*appsv1.ControllerRevision); ok {
		f += fmt.Sprint(" revision ", r.Revision)
	}
	return f
}
