package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// TestNodeSelectorFollowsLabels: labelling a node adds its pod within 5 s,
// removing the label deletes it within 5 s.
func TestNodeSelectorFollowsLabels(t *testing.T) {
	ctx := context.Background()
	nodes := []string{"selector-1", "selector-2"}
	isolatedNodes(t, "selector", nodes)
	createNamespace(t, "selector")
	ds := simpleDaemonSet("selector", "labelled", "selector")
	ds.Spec.Template.Spec.NodeSelector["e2e.daemonset-controller/logging"] = "yes"
	ds = createDaemonSet(t, ds)

	eventually(t, 30*time.Second, "the DaemonSet observed with no pods", func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil || cur.Status.ObservedGeneration != cur.Generation {
			return "not observed yet"
		}
		return placedExactly(ctx, ds, nil)
	})
	setLabel := func(value *string) {
		t.Helper()
		patch := `{"metadata":{"labels":{"e2e.daemonset-controller/logging":null}}}`
		if value != nil {
			patch = fmt.Sprintf(`{"metadata":{"labels":{"e2e.daemonset-controller/logging":%q}}}`, *value)
		}
		if _, err := tb.Client.CoreV1().Nodes().Patch(ctx, "selector-1", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	yes := "yes"
	setLabel(&yes)
	eventually(t, 5*time.Second, "a pod for the labelled node", func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		if len(byNode["selector-1"]) != 1 || len(byNode) != 1 {
			return fmt.Sprintf("pods by node: %v", podNames(byNode))
		}
		return ""
	})
	eventually(t, time.Minute, "the pod Running and Ready", func(ctx context.Context) string {
		return placedExactly(ctx, ds, []string{"selector-1"})
	})
	setLabel(nil)
	eventually(t, 5*time.Second, "the pod deleted after the label went", func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		for _, p := range byNode["selector-1"] {
			if p.DeletionTimestamp == nil {
				return "pod " + p.Name + " is not being deleted"
			}
		}
		return ""
	})
}

func podNames(byNode map[string][]v1.Pod) map[string][]string {
	out := map[string][]string{}
	for n, pods := range byNode {
		for _, p := range pods {
			out[n] = append(out[n], p.Name)
		}
	}
	return out
}

// TestReplacement: a deleted daemon pod is replaced; a Failed one is
// replaced with a FailedDaemonPod event, and repeated failures back off.
func TestReplacement(t *testing.T) {
	ctx := context.Background()
	isolatedNodes(t, "replace", []string{"replace-1"})
	createNamespace(t, "replace")
	ds := simpleDaemonSet("replace", "phoenix", "replace")
	grace := int64(0)
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	ds = createDaemonSet(t, ds)

	running := func() *v1.Pod {
		t.Helper()
		var pod *v1.Pod
		eventually(t, time.Minute, "a Running, Ready pod", func(ctx context.Context) string {
			byNode, err := daemonPods(ctx, ds)
			if err != nil {
				return err.Error()
			}
			if msg := placed(byNode, []string{"replace-1"}); msg != "" {
				return msg
			}
			pod = &byNode["replace-1"][0]
			return ""
		})
		return pod
	}

	t.Run("deleted pod comes back", func(t *testing.T) {
		first := running()
		if err := tb.Client.CoreV1().Pods(first.Namespace).Delete(ctx, first.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if next := running(); next.UID == first.UID {
			t.Fatalf("pod %s was not replaced", first.Name)
		}
	})

	t.Run("failed pods are replaced with backoff", func(t *testing.T) {
		deleted := watchDeletions(t, ds.Namespace)
		var failedAt []time.Time
		var uids []types.UID
		for i := 0; i < 4; i++ {
			pod := running()
			pod.Status.Phase = v1.PodFailed
			if _, err := tb.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("marking %s Failed: %v", pod.Name, err)
			}
			failedAt = append(failedAt, time.Now())
			uids = append(uids, pod.UID)
			eventually(t, time.Minute, "the failed pod deleted", func(context.Context) string {
				if _, ok := deleted.at(pod.UID); !ok {
					return pod.Name + " still there"
				}
				return ""
			})
		}
		eventually(t, 30*time.Second, "FailedDaemonPod events", func(ctx context.Context) string {
			n := countEvents(ctx, ds, "FailedDaemonPod")
			if n < 4 {
				return fmt.Sprintf("%d FailedDaemonPod events", n)
			}
			return ""
		})
		// The backoff per node starts at 1 s and doubles: the fourth
		// failure cannot be acted on sooner than 4 s after the third.
		third, _ := deleted.at(uids[2])
		fourth, _ := deleted.at(uids[3])
		if gap := fourth.Sub(third); gap < 3500*time.Millisecond {
			t.Errorf("the 4th failed pod was deleted %v after the 3rd: no backoff", gap)
		}
		running()
	})
}

func countEvents(ctx context.Context, ds *appsv1.DaemonSet, reason string) int {
	list, err := tb.Client.CoreV1().Events(ds.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + ds.Name + ",reason=" + reason,
	})
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range list.Items {
		n += int(max(e.Count, 1))
	}
	return n
}

// deletions records when each pod was first seen going (deletionTimestamp
// set) or gone.
type deletions struct {
	mu   sync.Mutex
	seen map[types.UID]time.Time
}

func (d *deletions) at(uid types.UID) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.seen[uid]
	return t, ok
}

func watchDeletions(t *testing.T, ns string) *deletions {
	d := &deletions{seen: map[types.UID]time.Time{}}
	w := watchPods(t, ns)
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted || pod.DeletionTimestamp != nil {
				d.mu.Lock()
				if _, ok := d.seen[pod.UID]; !ok {
					d.seen[pod.UID] = time.Now()
				}
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func watchPods(t *testing.T, ns string) watch.Interface {
	t.Helper()
	w, err := tb.Client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// TestKilledWhileCreating: the controller is SIGKILLed while it creates pods
// for 200 nodes and started again. Every node ends with exactly one pod,
// and no node ever held two.
func TestKilledWhileCreating(t *testing.T) {
	ctx := context.Background()
	var nodes []string
	for i := 0; i < 200; i++ {
		nodes = append(nodes, fmt.Sprintf("kill-%03d", i))
	}
	isolatedNodes(t, "kill", nodes)
	createNamespace(t, "kill")
	ds := simpleDaemonSet("kill", "survivor", "kill")

	doubled := watchDoubles(t, "kill")
	ds = createDaemonSet(t, ds)
	eventually(t, time.Minute, "the first pods created", func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		if len(byNode) < 20 {
			return fmt.Sprintf("%d nodes have pods", len(byNode))
		}
		return ""
	})
	currentController().Kill()
	byNode, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(byNode) >= len(nodes) {
		t.Fatalf("all %d pods were created before the kill; the test proves nothing", len(byNode))
	}
	t.Logf("killed the controller with %d of %d pods created", len(byNode), len(nodes))
	if err := restartController(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "one Running, Ready pod on every node",
		func(ctx context.Context) string { return placedExactly(ctx, ds, nodes) })
	if d := doubled(); len(d) > 0 {
		t.Errorf("nodes that held two pods at once: %v", d)
	}
	if err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(ctx, ds.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}

// watchDoubles checks, at every pod event in ns, that no node holds two
// pods; it returns the nodes that ever did.
func watchDoubles(t *testing.T, ns string) func() []string {
	w := watchPods(t, ns)
	var mu sync.Mutex
	live := map[string]map[types.UID]bool{}
	bad := map[string]bool{}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			node := targetNode(pod)
			mu.Lock()
			if live[node] == nil {
				live[node] = map[types.UID]bool{}
			}
			if ev.Type == watch.Deleted {
				delete(live[node], pod.UID)
			} else {
				live[node][pod.UID] = true
			}
			if len(live[node]) > 1 {
				bad[node] = true
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for n := range bad {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
}
