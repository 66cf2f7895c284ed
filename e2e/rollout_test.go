package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// rolloutDaemonSet is simpleDaemonSet with a RollingUpdate strategy and
// pods that end at once when deleted, so a rollout is paced by the
// controller, not by grace periods.
func rolloutDaemonSet(ns, name, group, maxUnavailable, maxSurge string) *appsv1.DaemonSet {
	ds := simpleDaemonSet(ns, name, group)
	u, s := intstr.Parse(maxUnavailable), intstr.Parse(maxSurge)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &u, MaxSurge: &s},
	}
	zero := int64(0)
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = &zero
	return ds
}

func groupNodes(group string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s-%02d", group, i))
	}
	return out
}

// setImage changes the DaemonSet's image, as `kubectl set image` would.
func setImage(t *testing.T, ds *appsv1.DaemonSet, image string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(context.Background(), ds.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Template.Spec.Containers[0].Image = image
		_, err = tb.Client.AppsV1().DaemonSets(ds.Namespace).Update(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("setting image %s: %v", image, err)
	}
}

// rolledOut reports "" once every node runs a Running, Ready pod of the
// DaemonSet's current template and no other pod is left.
func rolledOut(ds *appsv1.DaemonSet, nodes []string, image string) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		if msg := placed(byNode, nodes); msg != "" {
			return msg
		}
		for _, n := range nodes {
			if img := byNode[n][0].Spec.Containers[0].Image; img != image {
				return fmt.Sprintf("node %s still runs %s", n, img)
			}
		}
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if s := cur.Status; s.ObservedGeneration != cur.Generation || int(s.UpdatedNumberScheduled) != len(nodes) ||
			int(s.NumberAvailable) != len(nodes) {
			return "status is " + s.String()
		}
		return ""
	}
}

func kubectl(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(tb.Tools, "kubectl"),
		append([]string{"--kubeconfig=" + tb.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// invariant watches the pods of ns and runs check on the whole set at
// every event; it returns the violations seen so far.
func invariant(t *testing.T, ns string, check func(pods map[types.UID]*v1.Pod, now time.Time) string) func() []string {
	t.Helper()
	// Start from a full list so the check never sees a partial set.
	list, err := tb.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[types.UID]*v1.Pod{}
	for i := range list.Items {
		pods[list.Items[i].UID] = &list.Items[i]
	}
	w, err := tb.Client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	var bad []string
	go func() {
		defer func() {
			mu.Lock()
			bad = append(bad, "the watch ended early: the invariant was not checked to the end")
			mu.Unlock()
		}()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(pods, pod.UID)
			} else {
				pods[pod.UID] = pod
			}
			if msg := check(pods, time.Now()); msg != "" && len(bad) < 20 {
				bad = append(bad, msg)
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		w.Stop() // the deferred note is expected now
		return append([]string(nil), bad...)
	}
}

// availableNodes counts the nodes in nodes with a live pod that has been
// Ready for minReady, and the nodes holding more than one live pod.
func availableNodes(pods map[types.UID]*v1.Pod, nodes []string, minReady time.Duration, now time.Time) (available, doubled int) {
	want := map[string]bool{}
	for _, n := range nodes {
		want[n] = true
	}
	avail, count := map[string]bool{}, map[string]int{}
	for _, p := range pods {
		n := targetNode(p)
		if !want[n] || p.DeletionTimestamp != nil {
			continue
		}
		count[n]++
		if !runningReady(p) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReady && !c.LastTransitionTime.Add(minReady).After(now) {
				avail[n] = true
			}
		}
	}
	for _, c := range count {
		if c > 1 {
			doubled++
		}
	}
	return len(avail), doubled
}

// TestRollingUpdateMaxUnavailable: 10 nodes, maxUnavailable 1, image changed:
// the rollout completes and no more than one node was ever unavailable.
func TestRollingUpdateMaxUnavailable(t *testing.T) {
	nodes := groupNodes("ru-one", 10)
	isolatedNodes(t, "ru-one", nodes)
	createNamespace(t, "ru-one")
	ds := createDaemonSet(t, rolloutDaemonSet("ru-one", "agent", "ru-one", "1", "0"))
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	violations := invariant(t, "ru-one", func(pods map[types.UID]*v1.Pod, now time.Time) string {
		if avail, _ := availableNodes(pods, nodes, 0, now); avail < len(nodes)-1 {
			return fmt.Sprintf("%d of %d nodes unavailable", len(nodes)-avail, len(nodes))
		}
		return ""
	})
	setImage(t, ds, "registry.example/daemon:2")
	out := kubectl(t, 4*time.Minute, "rollout", "status", "ds/agent", "-n", "ru-one", "--timeout=4m")
	if !strings.Contains(out, "Waiting for daemon set \"agent\" rollout to finish") || !strings.Contains(out, "successfully rolled out") {
		t.Errorf("kubectl rollout status did not report progress, then success: %s", out)
	}
	eventually(t, time.Minute, "the rollout complete", rolledOut(ds, nodes, "registry.example/daemon:2"))
	if v := violations(); len(v) > 0 {
		t.Errorf("maxUnavailable 1 was exceeded: %v", v)
	}
}

// TestRollingUpdateSurge: 10 nodes, maxSurge 2, maxUnavailable 0: never
// fewer than 10 available pods, never more than 2 nodes with two pods.
func TestRollingUpdateSurge(t *testing.T) {
	nodes := groupNodes("ru-surge", 10)
	isolatedNodes(t, "ru-surge", nodes)
	createNamespace(t, "ru-surge")
	ds := createDaemonSet(t, rolloutDaemonSet("ru-surge", "agent", "ru-surge", "0", "2"))
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	violations := invariant(t, "ru-surge", func(pods map[types.UID]*v1.Pod, now time.Time) string {
		avail, doubled := availableNodes(pods, nodes, 0, now)
		switch {
		case avail < len(nodes):
			return fmt.Sprintf("only %d nodes available", avail)
		case doubled > 2:
			return fmt.Sprintf("%d nodes hold two pods", doubled)
		}
		return ""
	})
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 4*time.Minute, "the rollout complete, old pods gone", rolledOut(ds, nodes, "registry.example/daemon:2"))
	if v := violations(); len(v) > 0 {
		t.Errorf("the surge invariant was broken: %v", v)
	}
}

// TestRollingUpdateMinReadySeconds: maxUnavailable 30% with
// minReadySeconds 5: a new pod counts only after 5 s of readiness, so no
// more than 3 of 10 nodes ever lack a pod available for 5 s.
func TestRollingUpdateMinReadySeconds(t *testing.T) {
	nodes := groupNodes("ru-minready", 10)
	isolatedNodes(t, "ru-minready", nodes)
	createNamespace(t, "ru-minready")
	ds := rolloutDaemonSet("ru-minready", "agent", "ru-minready", "30%", "0")
	ds.Spec.MinReadySeconds = 5
	ds = createDaemonSet(t, ds)
	eventually(t, 2*time.Minute, "all pods available", rolledOut(ds, nodes, "registry.example/daemon:1"))
	violations := invariant(t, "ru-minready", func(pods map[types.UID]*v1.Pod, now time.Time) string {
		// Tolerate 1 s of clock skew between the watcher and the controller.
		if avail, _ := availableNodes(pods, nodes, 4*time.Second, now); avail < len(nodes)-3 {
			return fmt.Sprintf("%d of %d nodes without a pod available for 5 s", len(nodes)-avail, len(nodes))
		}
		return ""
	})
	start := time.Now()
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 4*time.Minute, "the rollout complete", rolledOut(ds, nodes, "registry.example/daemon:2"))
	// Four batches (3, 3, 3, 1), each waiting 5 s of readiness before the next.
	if took := time.Since(start); took < 15*time.Second {
		t.Errorf("the rollout took %v: it cannot have waited minReadySeconds between batches", took)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("minReadySeconds was not honoured: %v", v)
	}
}

// TestRollingUpdateGraceful: pods with a grace period stay on their node,
// terminating, for a while after their deletion; the rolling update waits
// for them to go before it puts the new pod there. No node ever holds a
// terminating pod beside a live one (maxSurge is 0), no more than
// maxUnavailable nodes are ever without a ready pod, and exactly one new pod
// is created per node.
func TestRollingUpdateGraceful(t *testing.T) {
	nodes := groupNodes("ru-grace", 10)
	isolatedNodes(t, "ru-grace", nodes)
	createNamespace(t, "ru-grace")
	ds := rolloutDaemonSet("ru-grace", "agent", "ru-grace", "2", "0")
	grace := int64(3) // kwok ends a deleted pod at a random time within it
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	ds = createDaemonSet(t, ds)
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	var mu sync.Mutex // the watcher may deliver one more event after it is stopped
	created := map[types.UID]bool{}
	terminating := map[types.UID]bool{}
	violations := invariant(t, "ru-grace", func(pods map[types.UID]*v1.Pod, now time.Time) string {
		mu.Lock()
		defer mu.Unlock()
		perNode := map[string]int{}
		for _, p := range pods {
			perNode[targetNode(p)]++
			switch {
			case p.DeletionTimestamp != nil:
				terminating[p.UID] = true
			case p.Spec.Containers[0].Image == "registry.example/daemon:2":
				created[p.UID] = true
			}
		}
		for n, c := range perNode {
			if c > 1 {
				return fmt.Sprintf("node %s holds %d pods", n, c)
			}
		}
		if avail, _ := availableNodes(pods, nodes, 0, now); avail < len(nodes)-2 {
			return fmt.Sprintf("%d of %d nodes unavailable", len(nodes)-avail, len(nodes))
		}
		return ""
	})
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 4*time.Minute, "the rollout complete, old pods gone", rolledOut(ds, nodes, "registry.example/daemon:2"))
	if v := violations(); len(v) > 0 {
		t.Errorf("the rolling update broke its limits: %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(terminating) != len(nodes) {
		t.Errorf("saw %d old pods terminating, want all %d (the bed must delete gracefully for this test to mean anything)", len(terminating), len(nodes))
	}
	if len(created) != len(nodes) {
		t.Errorf("%d pods of the new template were created for %d nodes", len(created), len(nodes))
	}
}

// TestOnDelete: a changed template touches no pod; a deleted pod comes back
// with the new template.
func TestOnDelete(t *testing.T) {
	ctx := context.Background()
	nodes := groupNodes("ondelete", 3)
	isolatedNodes(t, "ondelete", nodes)
	createNamespace(t, "ondelete")
	ds := simpleDaemonSet("ondelete", "agent", "ondelete")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	ds = createDaemonSet(t, ds)
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	before, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	changes := invariant(t, "ondelete", func(pods map[types.UID]*v1.Pod, _ time.Time) string {
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != "registry.example/daemon:1" {
				return "pod " + p.Name + " changed"
			}
		}
		if len(pods) != len(nodes) {
			return fmt.Sprintf("%d pods", len(pods))
		}
		return ""
	})
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 30*time.Second, "the new template observed, no pod updated", func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if cur.Status.ObservedGeneration != cur.Generation || cur.Status.UpdatedNumberScheduled != 0 || cur.Status.NumberAvailable != 3 {
			return "status is " + cur.Status.String()
		}
		return ""
	})
	if c := changes(); len(c) > 0 {
		t.Fatalf("pods changed after an OnDelete template change: %v", c)
	}
	victim := before[nodes[0]][0]
	if err := tb.Client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the deleted pod back with the new template", func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		if msg := placed(byNode, nodes); msg != "" {
			return msg
		}
		for _, n := range nodes {
			p := byNode[n][0]
			want := "registry.example/daemon:1"
			if n == nodes[0] {
				want = "registry.example/daemon:2"
			} else if p.UID != before[n][0].UID {
				return "pod on " + n + " was replaced"
			}
			if p.Spec.Containers[0].Image != want {
				return fmt.Sprintf("pod on %s runs %s, want %s", n, p.Spec.Containers[0].Image, want)
			}
		}
		return ""
	})
	// The replacement carries the hash of the current revision.
	revs, err := tb.Client.AppsV1().ControllerRevisions("ondelete").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var newest *appsv1.ControllerRevision
	for i := range revs.Items {
		if newest == nil || revs.Items[i].Revision > newest.Revision {
			newest = &revs.Items[i]
		}
	}
	after, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after[nodes[0]][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey], newest.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; newest.Revision != 2 || got != want {
		t.Errorf("replacement has hash %q, want %q of revision %d", got, want, newest.Revision)
	}
}

// TestBadRolloutAndUndo: an update whose pods never turn Ready stops at
// maxUnavailable, the status says so, and `kubectl rollout undo` restores
// every node without restarting the pods the rollout never touched.
func TestBadRolloutAndUndo(t *testing.T) {
	ctx := context.Background()
	nodes := groupNodes("undo", 6)
	isolatedNodes(t, "undo", nodes)
	createNamespace(t, "undo")
	ds := createDaemonSet(t, rolloutDaemonSet("undo", "agent", "undo", "2", "0"))
	good := "registry.example/daemon:1"
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, good))
	before, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	setImage(t, ds, "registry.example/daemon:"+bed.NeverReadyImage)
	eventually(t, 2*time.Minute, "the rollout stuck at maxUnavailable", func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		s := cur.Status
		if s.ObservedGeneration != cur.Generation || s.UpdatedNumberScheduled != 2 || s.NumberUnavailable != 2 ||
			s.NumberAvailable != 4 || s.DesiredNumberScheduled != 6 {
			return "status is " + s.String()
		}
		return ""
	})
	// Give a controller that ignored maxUnavailable time to overstep it.
	changes := invariant(t, "undo", func(pods map[types.UID]*v1.Pod, _ time.Time) string {
		n := 0
		for _, p := range pods {
			if p.Spec.Containers[0].Image != good && p.DeletionTimestamp == nil {
				n++
			}
		}
		if n > 2 {
			return fmt.Sprintf("%d pods run the bad image", n)
		}
		return ""
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		checkController(t)
		time.Sleep(200 * time.Millisecond)
	}
	if c := changes(); len(c) > 0 {
		t.Fatalf("the bad rollout went past maxUnavailable: %v", c)
	}
	untouched := map[string]types.UID{}
	now, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if len(now[n]) == 1 && now[n][0].UID == before[n][0].UID {
			untouched[n] = now[n][0].UID
		}
	}
	if len(untouched) != 4 {
		t.Fatalf("%d nodes kept their pod, want 4", len(untouched))
	}
	out := kubectl(t, time.Minute, "rollout", "undo", "ds/agent", "-n", "undo")
	if !strings.Contains(out, "rolled back") {
		t.Errorf("kubectl rollout undo said: %s", out)
	}
	eventually(t, 2*time.Minute, "every node back on the good image", rolledOut(ds, nodes, good))
	after, err := daemonPods(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	for n, uid := range untouched {
		if after[n][0].UID != uid {
			t.Errorf("the untouched pod on %s was restarted by the rollback", n)
		}
	}
}

// TestRevisionHistoryLimit: with revisionHistoryLimit 2, five updates leave
// the current revision and two old ones, and kubectl rollout history lists
// exactly those.
func TestRevisionHistoryLimit(t *testing.T) {
	nodes := groupNodes("history", 2)
	isolatedNodes(t, "history", nodes)
	createNamespace(t, "history")
	ds := rolloutDaemonSet("history", "agent", "history", "100%", "0")
	limit := int32(2)
	ds.Spec.RevisionHistoryLimit = &limit
	ds = createDaemonSet(t, ds)
	eventually(t, 2*time.Minute, "all pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	for v := 2; v <= 6; v++ {
		img := fmt.Sprintf("registry.example/daemon:%d", v)
		setImage(t, ds, img)
		eventually(t, 2*time.Minute, "rolled out to "+img, rolledOut(ds, nodes, img))
	}
	eventually(t, 30*time.Second, "revisions 4, 5 and 6 left", func(ctx context.Context) string {
		revs, err := tb.Client.AppsV1().ControllerRevisions("history").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var got []int64
		for _, r := range revs.Items {
			got = append(got, r.Revision)
		}
		if len(got) != 3 || !contains(got, 4) || !contains(got, 5) || !contains(got, 6) {
			return fmt.Sprintf("revisions %v", got)
		}
		return ""
	})
	out := kubectl(t, 30*time.Second, "rollout", "history", "ds/agent", "-n", "history")
	var listed []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "REVISION" && f[0] != "daemonset.apps/agent" {
			listed = append(listed, f[0])
		}
	}
	if strings.Join(listed, ",") != "4,5,6" {
		t.Errorf("kubectl rollout history listed %v:\n%s", listed, out)
	}
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRolloutInBatches: a rollout cut into batches by --burst-replicas
// converges with one pod per node and a status that says so, no node ever
// holding two pods, and then costs no requests. With a burst above the
// creation window (64) each cut sync has answers in and queues the next
// at once, leaving its status write to it; with a burst within the window
// a cut sync starts its whole batch unanswered and the next waits for its
// pods' events.
func TestRolloutInBatches(t *testing.T) {
	for _, tc := range []struct {
		burst, nodes int
	}{
		{70, 150},
		{3, 20},
	} {
		t.Run(fmt.Sprintf("burst %d on %d nodes", tc.burst, tc.nodes), func(t *testing.T) {
			stopController()
			if err := restartController(fmt.Sprintf("--burst-replicas=%d", tc.burst)); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stopController()
				if err := restartController(); err != nil {
					t.Error(err)
				}
			}()
			group := fmt.Sprintf("batch%d", tc.burst)
			nodes := chaosNodes(t, group, tc.nodes)
			createNamespace(t, group)
			inv := watchInvariant(t, group)
			ds := createDaemonSet(t, simpleDaemonSet(group, "agent", group))
			// Before the nodes go (cleanups run last first): otherwise the
			// controller is still deleting this case's pods from departed
			// nodes, at its rate limit, while the next case checks that it
			// is quiet.
			t.Cleanup(func() { deleteDaemonSet(t, ds) })
			settle(t, ds, nodes, "", 3*time.Minute)
			checkController(t)
			inv.check(t)
			quiet(t)
		})
	}
}
