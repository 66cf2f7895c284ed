package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// TestSeedDaemonSet runs the seed's fluentd-elasticsearch DaemonSet through
// its life: placement on workers and the tolerated control-plane node (and
// not on a node with another taint), a node joining and leaving, kubectl's
// view of it, and deletion.
func TestSeedDaemonSet(t *testing.T) {
	ctx := context.Background()
	workers := []string{"seed-worker-1", "seed-worker-2", "seed-worker-3"}
	nodes := map[string]bed.NodeOptions{
		"seed-control-plane": {
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints: []v1.Taint{{Key: "node-role.kubernetes.io/master", Effect: v1.TaintEffectNoSchedule}},
		},
		"seed-tainted": {Taints: []v1.Taint{{Key: "example.com/dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}},
	}
	for _, w := range workers {
		nodes[w] = bed.NodeOptions{}
	}
	var names []string
	for n, o := range nodes {
		names = append(names, n)
		if err := tb.CreateNode(ctx, n, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { deleteNodes(t, append(names, "seed-joiner")) })
	if err := tb.WaitNodesReady(ctx, 2*time.Minute, names...); err != nil {
		t.Fatal(err)
	}
	createNamespace(t, "my-kube")
	seed, err := bed.SeedDaemonSet()
	if err != nil {
		t.Fatal(err)
	}
	ds := createDaemonSet(t, seed)
	eligible := append([]string{"seed-control-plane"}, workers...)
	// Throughout, not only when settled, kubectl's columns must be
	// consistent with each other.
	stopWatching, readings := watchKubectlColumns("my-kube", ds.Name)

	t.Run("placement", func(t *testing.T) {
		eventually(t, time.Minute, "a Running, Ready pod on the 3 workers and the control-plane node only",
			func(ctx context.Context) string { return placedExactly(ctx, ds, eligible) })
		checkPodShape(t, ds)
	})
	t.Run("kubectl shows 4", func(t *testing.T) {
		eventually(t, 30*time.Second, "kubectl get ds", kubectlShows("my-kube", ds.Name, 4))
		checkStatus(t, ds, 4)
	})
	t.Run("node joins", func(t *testing.T) {
		if err := tb.CreateNode(ctx, "seed-joiner", bed.NodeOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "a pod on the new node",
			func(ctx context.Context) string { return placedExactly(ctx, ds, append(eligible, "seed-joiner")) })
		eventually(t, 30*time.Second, "kubectl get ds", kubectlShows("my-kube", ds.Name, 5))
	})
	t.Run("node leaves", func(t *testing.T) {
		if err := tb.Client.CoreV1().Nodes().Delete(ctx, "seed-joiner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the departed node's pod gone",
			func(ctx context.Context) string { return placedExactly(ctx, ds, eligible) })
		eventually(t, 30*time.Second, "kubectl get ds", kubectlShows("my-kube", ds.Name, 4))
	})
	if bad := stopWatching(); len(bad) > 0 {
		t.Errorf("kubectl get ds showed inconsistent columns: %v", bad)
	} else if *readings == 0 {
		t.Error("kubectl get ds was never read while the DaemonSet changed")
	}
	t.Run("DaemonSet deleted", func(t *testing.T) {
		if err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(ctx, ds.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "all its pods gone", func(ctx context.Context) string {
			if _, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return "the DaemonSet still exists"
			}
			return placedExactly(ctx, ds, nil)
		})
	})
}

// checkPodShape checks what the controller puts on every pod it makes.
func checkPodShape(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	ctx := context.Background()
	byNode, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := tb.Client.AppsV1().ControllerRevisions(ds.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 1 || !metav1.IsControlledBy(&revs.Items[0], ds) {
		t.Fatalf("want one ControllerRevision owned by the DaemonSet, got %d", len(revs.Items))
	}
	hash := revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if revs.Items[0].Name != ds.Name+"-"+hash || revs.Items[0].Revision != 1 {
		t.Errorf("revision %s (number %d) does not match hash %q", revs.Items[0].Name, revs.Items[0].Revision, hash)
	}
	for node, pods := range byNode {
		p := pods[0]
		if !metav1.IsControlledBy(&p, ds) || !strings.HasPrefix(p.Name, ds.Name+"-") {
			t.Errorf("pod %s: not named for or controlled by %s", p.Name, ds.Name)
		}
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || p.Labels["pod-template-generation"] != "1" {
			t.Errorf("pod %s labels %v, want hash %s and generation 1", p.Name, p.Labels, hash)
		}
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Values[0] != node {
			t.Errorf("pod %s: node affinity %v does not bind it to %s", p.Name, terms, node)
		}
		tolerated := map[string]bool{}
		for _, tol := range p.Spec.Tolerations {
			tolerated[tol.Key+":"+string(tol.Effect)] = true
		}
		for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
			"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
			"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule",
			"node-role.kubernetes.io/master:NoSchedule"} {
			if !tolerated[want] {
				t.Errorf("pod %s lacks toleration %s", p.Name, want)
			}
		}
	}
}

// checkStatus checks every status field once the DaemonSet has settled.
func checkStatus(t *testing.T, ds *appsv1.DaemonSet, n int32) {
	t.Helper()
	eventually(t, 30*time.Second, "status settled", func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		s := cur.Status
		want := appsv1.DaemonSetStatus{
			DesiredNumberScheduled: n, CurrentNumberScheduled: n, NumberReady: n,
			UpdatedNumberScheduled: n, NumberAvailable: n, ObservedGeneration: cur.Generation,
		}
		if s.DesiredNumberScheduled != want.DesiredNumberScheduled || s.CurrentNumberScheduled != n ||
			s.NumberReady != n || s.UpdatedNumberScheduled != n || s.NumberAvailable != n ||
			s.NumberUnavailable != 0 || s.NumberMisscheduled != 0 || s.ObservedGeneration != want.ObservedGeneration {
			return "status is " + cur.Status.String()
		}
		return ""
	})
}

// watchKubectlColumns runs `kubectl get ds` every 300 ms until stopped and
// checks CURRENT <= DESIRED, READY <= CURRENT, UP-TO-DATE <= CURRENT and
// AVAILABLE <= READY at every reading. It returns a stop function that
// yields the violations, and a count of readings.
func watchKubectlColumns(ns, name string) (func() []string, *int) {
	ctx, cancel := context.WithCancel(context.Background())
	readings := new(int)
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if cols, err := kubectlDS(ctx, ns, name); err == nil {
				*readings++
				n := make([]int, 5)
				for i, c := range cols {
					fmt.Sscan(c, &n[i])
				}
				desired, current, ready, updated, available := n[0], n[1], n[2], n[3], n[4]
				if current > desired || ready > current || updated > current || available > ready {
					bad = append(bad, strings.Join(cols, " "))
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return func() []string { cancel(); <-done; return bad }, readings
}
