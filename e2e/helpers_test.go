package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

const e2eSecond = time.Second

// eventually polls cond every 100 ms until it returns "" (done) or timeout
// passes, then fails with the last thing cond said was missing.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		checkController(t)
		if last = cond(ctx); last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isolatedNodes creates nodes that carry a taint only the test's own
// DaemonSets tolerate, so tests never see each other's pods, and deletes
// them when the test ends.
func isolatedNodes(t *testing.T, group string, names []string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range names {
		err := tb.CreateNode(ctx, n, bed.NodeOptions{Labels: map[string]string{groupKey: group}, Taints: []v1.Taint{groupTaint(group)}})
		if err != nil {
			t.Fatalf("creating node %s: %v", n, err)
		}
	}
	t.Cleanup(func() { deleteNodes(t, names) })
	if err := tb.WaitNodesReady(ctx, 2*time.Minute, names...); err != nil {
		t.Fatal(err)
	}
}

const groupKey = "e2e.daemonset-controller/group"

func groupTaint(group string) v1.Taint {
	return v1.Taint{Key: groupKey, Value: group, Effect: v1.TaintEffectNoSchedule}
}

func groupToleration(group string) v1.Toleration {
	return v1.Toleration{Key: groupKey, Operator: v1.TolerationOpEqual, Value: group, Effect: v1.TaintEffectNoSchedule}
}

func deleteNodes(t *testing.T, names []string) {
	ctx := context.Background()
	for _, n := range names {
		if err := tb.Client.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting node %s: %v", n, err)
		}
	}
}

// simpleDaemonSet returns a DaemonSet for group's nodes only.
func simpleDaemonSet(ns, name, group string) *appsv1.DaemonSet {
	lbls := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: v1.PodSpec{
					NodeSelector: map[string]string{groupKey: group},
					Tolerations:  []v1.Toleration{groupToleration(group)},
					Containers:   []v1.Container{{Name: "daemon", Image: "registry.example/daemon:1"}},
				},
			},
		},
	}
}

func createNamespace(t *testing.T, ns string) {
	t.Helper()
	if err := tb.CreateNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func createDaemonSet(t *testing.T, ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	t.Helper()
	out, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Create(context.Background(), ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating DaemonSet %s: %v", ds.Name, err)
	}
	return out
}

// deleteDaemonSet deletes ds and waits until its pods are gone (the
// garbage collector's work).
func deleteDaemonSet(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting DaemonSet %s: %v", ds.Name, err)
	}
	eventually(t, 2*time.Minute, "the deleted DaemonSet's pods gone", func(ctx context.Context) string {
		return placedExactly(ctx, ds, nil)
	})
}

// daemonPods lists the pods of ds by the node they are for.
func daemonPods(ctx context.Context, ds *appsv1.DaemonSet) (map[string][]v1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := tb.Client.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	out := map[string][]v1.Pod{}
	for _, p := range list.Items {
		out[targetNode(&p)] = append(out[targetNode(&p)], p)
	}
	return out, nil
}

func targetNode(p *v1.Pod) string { return plan.TargetNode(p) }

func runningReady(p *v1.Pod) bool {
	if p.Status.Phase != v1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// placedExactly reports "" when each node in want runs exactly one live,
// Running and Ready pod of ds bound to it, and no other node has any.
func placedExactly(ctx context.Context, ds *appsv1.DaemonSet, want []string) string {
	byNode, err := daemonPods(ctx, ds)
	if err != nil {
		return err.Error()
	}
	return placed(byNode, want)
}

// placed is placedExactly on pods already listed.
func placed(byNode map[string][]v1.Pod, want []string) string {
	wanted := map[string]bool{}
	for _, n := range want {
		wanted[n] = true
		pods := byNode[n]
		if len(pods) != 1 {
			return fmt.Sprintf("node %s has %d pods", n, len(pods))
		}
		if pods[0].Spec.NodeName != n || !runningReady(&pods[0]) {
			return fmt.Sprintf("pod %s on %s is not bound, Running and Ready (phase %s)", pods[0].Name, n, pods[0].Status.Phase)
		}
	}
	var extra []string
	for n, pods := range byNode {
		if !wanted[n] && len(pods) > 0 {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Sprintf("unwanted pods on %v", extra)
	}
	return ""
}

// kubectlDS returns kubectl's DESIRED, CURRENT, READY, UP-TO-DATE and
// AVAILABLE columns for a DaemonSet.
func kubectlDS(ctx context.Context, ns, name string) ([]string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(tb.Tools, "kubectl"), "--kubeconfig="+tb.Kubeconfig,
		"get", "ds", "-n", ns, name, "--no-headers").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kubectl: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 6 {
		return nil, fmt.Errorf("kubectl printed %q", out)
	}
	return f[1:6], nil
}

// kubectlShows reports "" when `kubectl get ds` shows n for all five counts.
func kubectlShows(ns, name string, n int) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		cols, err := kubectlDS(ctx, ns, name)
		if err != nil {
			return err.Error()
		}
		want := strings.Repeat(fmt.Sprint(n)+" ", 5)
		if got := strings.Join(cols, " ") + " "; got != want {
			return fmt.Sprintf("DESIRED CURRENT READY UP-TO-DATE AVAILABLE = %s, want %s", got, want)
		}
		return ""
	}
}
