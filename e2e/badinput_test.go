package e2e

// Bad input: what users and clusters do to DaemonSets that the controller
// cannot fix and must live with. Pods refused at admission (quota, a
// ValidatingAdmissionPolicy, a namespace being deleted) are reported and
// retried with backoff, never in a hot loop, and never at the expense of
// other DaemonSets; pods of other controllers are left alone; extreme but
// valid objects (dozens of taints, hundreds of labels, a 253-character node
// name, a template of 1 MiB, a selector that matches nothing) just work.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// TestBadInputAdmission: pods the API server refuses at admission. For each
// way of refusing, the DaemonSet gets FailedCreate warnings (where the
// namespace still takes events), its status is written for the pods that
// exist, creations back off (the attempts thin out instead of a hot loop),
// the controller's request rate stays bounded, a DaemonSet elsewhere
// converges meanwhile as fast as ever, and once the cause is lifted the
// DaemonSet converges.
func TestBadInputAdmission(t *testing.T) {
	bystanders := groupNodes("badinput-bystander", 2)
	isolatedNodes(t, "badinput-bystander", bystanders)

	t.Run("quota", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-quota"
		nodes := groupNodes(ns, 4)
		isolatedNodes(t, ns, nodes)
		tempNamespace(t, ns)
		quota := &v1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: ns},
			Spec:       v1.ResourceQuotaSpec{Hard: v1.ResourceList{v1.ResourcePods: resource.MustParse("2")}},
		}
		if _, err := tb.Client.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The quota admission refuses everything until the quota
		// controller has filled in the status; wait, so that the first
		// two pods are admitted for the right reason.
		eventually(t, time.Minute, "the quota's status", func(ctx context.Context) string {
			q, err := tb.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if _, ok := q.Status.Hard[v1.ResourcePods]; !ok {
				return "no status.hard yet"
			}
			return ""
		})

		mark := auditHere(t)
		metricsBefore := scrape(t, currentController())
		ds := createDaemonSet(t, fastDaemonSet(ns, "agent", ns))
		eventually(t, time.Minute, "2 pods Running and the status 4 desired, 2 current", func(ctx context.Context) string {
			if msg := controlledReady(ctx, ds, 2); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 4, 2)
		})
		eventually(t, 30*time.Second, "a FailedCreate warning saying the quota is exceeded",
			warningSays(ds, "FailedCreate", "exceeded quota"))

		bystanderConverges(t, "badinput-by-quota")
		failed := checkCreateBackoff(t, mark, ns, 30*time.Second)
		after := scrape(t, currentController())
		if n := metricValue(after, `daemonset_controller_pods_created_total{result="error"}`) -
			metricValue(metricsBefore, `daemonset_controller_pods_created_total{result="error"}`); n < float64(failed) {
			t.Errorf("pods_created_total{result=\"error\"} grew by %v, but the API server refused %d creations", n, failed)
		}

		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			q, err := tb.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
			if err != nil {
				return err
			}
			q.Spec.Hard[v1.ResourcePods] = resource.MustParse("4")
			_, err = tb.Client.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing tells the controller that a quota changed: the next
		// attempt of its backoff finds room, and the rest follow at once.
		raised := time.Now()
		eventually(t, untilNextAttempt(t, mark, ns)+30*time.Second, "one pod on each of the 4 nodes once the quota allows 4", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, nodes); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 4, 4)
		})
		t.Logf("converged %v after the quota was raised", time.Since(raised).Round(100*time.Millisecond))
	})

	t.Run("admission policy", func(t *testing.T) {
		const ns = "badinput-policy"
		nodes := groupNodes(ns, 3)
		isolatedNodes(t, ns, nodes)
		tempNamespace(t, ns)
		const banned = "registry.example/banned:1"
		denyInNamespace(t, "badinput-banned-image", ns, admissionv1.Create, "", "pods",
			fmt.Sprintf("!object.spec.containers.exists(c, c.image == %q)", banned), "image "+banned+" is banned")
		eventually(t, time.Minute, "the policy enforced", func(ctx context.Context) string {
			pod := &v1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: banned}}},
			}
			_, err := tb.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err == nil || !strings.Contains(err.Error(), "is banned") {
				return fmt.Sprintf("a dry-run pod with the banned image: %v", err)
			}
			return ""
		})

		mark := auditHere(t)
		ds := fastDaemonSet(ns, "agent", ns)
		ds.Spec.Template.Spec.Containers[0].Image = banned
		ds = createDaemonSet(t, ds)
		eventually(t, time.Minute, "the status 3 desired, 0 current", func(ctx context.Context) string {
			return dsStatusIs(ctx, ds, 3, 0)
		})
		eventually(t, 30*time.Second, "a FailedCreate warning naming the policy",
			warningSays(ds, "FailedCreate", "ValidatingAdmissionPolicy 'badinput-banned-image'"))
		bystanderConverges(t, "badinput-by-policy")
		checkCreateBackoff(t, mark, ns, 30*time.Second)

		deletePolicy(t, "badinput-banned-image")
		lifted := time.Now()
		eventually(t, untilNextAttempt(t, mark, ns)+30*time.Second, "one pod on each of the 3 nodes once the policy is gone", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, nodes); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 3, 3)
		})
		t.Logf("converged %v after the policy was deleted", time.Since(lifted).Round(100*time.Millisecond))
	})

	t.Run("namespace terminating", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-terminating"
		nodes := groupNodes(ns, 3)
		isolatedNodes(t, ns, nodes[:2])
		tempNamespace(t, ns)
		// The namespace controller deletes every object in a namespace
		// being deleted, the DaemonSet among them. A policy that refuses
		// to delete DaemonSets here keeps the DaemonSet live and the
		// namespace Terminating, as a webhook that refuses deletions does
		// in real clusters. (No FailedCreate event can be asserted here:
		// the namespace refuses to create events too.)
		denyInNamespace(t, "badinput-hold-daemonsets", ns, admissionv1.Delete, "apps", "daemonsets",
			"false", "DaemonSets in "+ns+" are held for the test")
		ds := createDaemonSet(t, fastDaemonSet(ns, "agent", ns))
		eventually(t, time.Minute, "the policy enforced", func(ctx context.Context) string {
			err := tb.Client.AppsV1().DaemonSets(ns).Delete(ctx, ds.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
			if err == nil || !strings.Contains(err.Error(), "held for the test") {
				return fmt.Sprintf("a dry-run delete of the DaemonSet: %v", err)
			}
			return ""
		})
		eventually(t, time.Minute, "one pod on each of the 2 nodes", func(ctx context.Context) string {
			return controlledPodsOn(ctx, ds, nodes[:2])
		})

		mark := auditHere(t)
		if err := tb.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the namespace Terminating, its pods gone, the DaemonSet still live", func(ctx context.Context) string {
			n, err := tb.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if n.Status.Phase != v1.NamespaceTerminating {
				return "namespace phase " + string(n.Status.Phase)
			}
			cur, err := tb.Client.AppsV1().DaemonSets(ns).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if cur.DeletionTimestamp != nil {
				return "the DaemonSet is being deleted: the policy did not hold it"
			}
			if pods, err := tb.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil || len(pods.Items) > 0 {
				return fmt.Sprintf("pods left: %d %v", len(pods.Items), err)
			}
			return dsStatusIs(ctx, ds, 2, 0)
		})
		// A node joins: the DaemonSet wants a pod there, and the API
		// server refuses to create anything in the namespace.
		joined := time.Now()
		isolatedNodes(t, ns, nodes[2:])
		eventually(t, time.Minute, "the status 3 desired, 0 current", func(ctx context.Context) string {
			return dsStatusIs(ctx, ds, 3, 0)
		})
		bystanderConverges(t, "badinput-by-terminating")
		// Observe 20 s from the node's arrival.
		eventually(t, time.Minute, "20 s after the node joined", func(context.Context) string {
			if d := time.Since(joined); d < 20*time.Second {
				return fmt.Sprintf("%v so far", d.Round(time.Second))
			}
			return ""
		})
		reqs := requestsAfter(t, mark)
		var refused, refusedAfterJoin []time.Time
		for _, r := range reqs {
			if r.isPodCreate(ns) && r.code() == 403 {
				refused = append(refused, r.Received)
				if r.Received.After(joined) {
					refusedAfterJoin = append(refusedAfterJoin, r.Received)
				}
			}
		}
		t.Logf("creations refused in the terminating namespace: %d, %d after the node joined (at %s)",
			len(refused), len(refusedAfterJoin), secondsAfter(refusedAfterJoin, joined))
		if len(refused) == 0 {
			t.Error("the controller never tried to replace the pods in the terminating namespace: the test proves nothing")
		}
		// A sync that meets the refusal stops (every other creation would
		// be refused the same way): one attempt per sync, and syncs only
		// on events, here the node's arrival, its not-ready taint going
		// and the status write they cause (~4 in all; without the stop
		// each would try all 3 nodes).
		if len(refusedAfterJoin) > 6 {
			t.Errorf("%d creations tried in 20 s after one node joined a terminating namespace, want a handful", len(refusedAfterJoin))
		}
		if late := countLater(refusedAfterJoin, joined.Add(10*time.Second)); late > 0 {
			t.Errorf("%d creations retried 10-20 s after the node joined: nothing changed, so nothing should be retried", late)
		}
		// Being refused there is not a failure of the sync.
		if lines := syncFailedLines(t, ns+"/"+ds.Name); len(lines) > 0 {
			t.Errorf("the controller reported sync failures for a DaemonSet in a terminating namespace:\n%s", strings.Join(lines, "\n"))
		}
		checkRequestRate(t, reqs, ns, mark.at, time.Now())
		// Lifting the hold lets the namespace controller finish: the
		// DaemonSet and the namespace go (the cleanup waits for it).
		deletePolicy(t, "badinput-hold-daemonsets")
	})
}

// TestBadInputForeignPods: pods that match a DaemonSet's selector on its
// nodes but are controlled by a ReplicaSet or by another DaemonSet are never
// adopted or deleted, and the DaemonSet still runs its own pod beside them;
// an orphan that matches is adopted, an orphan that does not is left alone.
func TestBadInputForeignPods(t *testing.T) {
	ctx := context.Background()
	const ns = "badinput-foreign"
	nodes := groupNodes(ns, 3)
	isolatedNodes(t, ns, nodes)
	tempNamespace(t, ns)

	// Another DaemonSet whose pods match agent's selector ({app: shared})
	// on the same nodes: overlapping selectors.
	other := fastDaemonSet(ns, "other", ns)
	other.Spec.Selector.MatchLabels = map[string]string{"app": "shared", "owner": "other"}
	other.Spec.Template.Labels = map[string]string{"app": "shared", "owner": "other"}
	other = createDaemonSet(t, other)
	// A ReplicaSet (run by kube-controller-manager) whose pods match too.
	rsLabels := map[string]string{"app": "shared", "owner": "rs"}
	two := int32(2)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: *other.Spec.Template.DeepCopy(),
		},
	}
	rs.Spec.Template.Labels = rsLabels
	if _, err := tb.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Two orphans, made before agent exists: one matches its selector, one
	// does not.
	orphan := func(name, node string, lbls map[string]string) {
		t.Helper()
		pod := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
			Spec:       *other.Spec.Template.Spec.DeepCopy(),
		}
		pod.Spec.NodeName = node
		if _, err := tb.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	orphan("orphan-match", nodes[0], map[string]string{"app": "shared"})
	orphan("orphan-other", nodes[1], map[string]string{"app": "unrelated"})

	// The foreign pods: other's 3 and the ReplicaSet's 2, all Running.
	foreign := map[types.UID]string{} // pod UID -> its controller's UID
	eventually(t, time.Minute, "other's 3 pods and the ReplicaSet's 2 Running", func(ctx context.Context) string {
		pods, err := tb.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=shared,owner"})
		if err != nil {
			return err.Error()
		}
		running := 0
		clear(foreign)
		for _, p := range pods.Items {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || !runningReady(&p) {
				return "pod " + p.Name + " not Running with a controller yet"
			}
			foreign[p.UID] = string(ref.UID)
			running++
		}
		if running != 5 {
			return fmt.Sprintf("%d of 5 Running", running)
		}
		return ""
	})
	eventually(t, 30*time.Second, "the orphans Running", func(ctx context.Context) string {
		for _, name := range []string{"orphan-match", "orphan-other"} {
			p, err := tb.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || !runningReady(p) {
				return name + " not Running"
			}
		}
		return ""
	})
	orphanOther, err := tb.Client.CoreV1().Pods(ns).Get(ctx, "orphan-other", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	foreign[orphanOther.UID] = ""
	touched := watchForeign(t, ns, foreign)

	agent := fastDaemonSet(ns, "agent", ns)
	agent.Spec.Selector.MatchLabels = map[string]string{"app": "shared"}
	agent.Spec.Template.Labels = map[string]string{"app": "shared"}
	// OnDelete: the adopted orphan lacks the revision hash, and a
	// RollingUpdate would (rightly) replace it at once.
	agent.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	agent = createDaemonSet(t, agent)
	eventually(t, time.Minute, "agent's own pod on every node, the matching orphan adopted", func(ctx context.Context) string {
		p, err := tb.Client.CoreV1().Pods(ns).Get(ctx, "orphan-match", metav1.GetOptions{})
		if err != nil || !metav1.IsControlledBy(p, agent) {
			return "orphan-match is not adopted"
		}
		if msg := controlledPodsOn(ctx, agent, nodes); msg != "" {
			return msg
		}
		return dsStatusIs(ctx, agent, 3, 3)
	})
	// Settled: the status counts only agent's pods.
	eventually(t, 30*time.Second, "agent's status settled", func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ns).Get(ctx, agent.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if s := cur.Status; s.NumberMisscheduled != 0 || s.NumberReady != 3 || s.CurrentNumberScheduled != 3 {
			return "status " + s.String()
		}
		return ""
	})
	// other goes: the garbage collector may delete its pods, but until
	// then they stay other's, and agent must not adopt them.
	for uid, owner := range foreign {
		if owner == string(other.UID) {
			touched.allowDelete(uid)
		}
	}
	if err := tb.Client.AppsV1().DaemonSets(ns).Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// agent still has its 3 pods and nothing else was touched.
	eventually(t, time.Minute, "other's pods gone, agent's unchanged", func(ctx context.Context) string {
		pods, err := tb.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=other"})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Sprintf("%d of other's pods left %v", len(pods.Items), err)
		}
		return controlledPodsOn(ctx, agent, nodes)
	})
	for _, bad := range touched.report() {
		t.Error(bad)
	}
	p, err := tb.Client.CoreV1().Pods(ns).Get(ctx, "orphan-other", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the orphan that does not match is gone: %v", err)
	}
	if len(p.OwnerReferences) > 0 {
		t.Errorf("the orphan that does not match got owners %v", p.OwnerReferences)
	}
	if n := countEvents(ctx, agent, "SuccessfulDelete"); n > 0 {
		t.Errorf("agent deleted %d pods; it had nothing of its own to delete", n)
	}
}

// TestBadInputExtremes: valid but extreme objects.
func TestBadInputExtremes(t *testing.T) {
	// First, while the controller has nothing else to do, so that its
	// error count can only move because of this DaemonSet.
	t.Run("selector matching no node", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-nomatch"
		isolatedNodes(t, ns, groupNodes(ns, 1))
		tempNamespace(t, ns)
		before := metricValue(scrape(t, currentController()), `daemonset_controller_syncs_total{result="error"}`)
		ds := fastDaemonSet(ns, "agent", ns)
		ds.Spec.Template.Spec.NodeSelector["badinput.example/no-such-label"] = "yes"
		ds = createDaemonSet(t, ds)
		eventually(t, 30*time.Second, "the status written: observed, all zeros", func(ctx context.Context) string {
			return zeroStatusAt(ctx, ds, 1)
		})
		// A spec change is synced, and written, again.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := tb.Client.AppsV1().DaemonSets(ns).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Template.Labels["version"] = "2"
			_, err = tb.Client.AppsV1().DaemonSets(ns).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "generation 2 observed, all zeros", func(ctx context.Context) string {
			return zeroStatusAt(ctx, ds, 2)
		})
		pods, err := tb.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) > 0 {
			t.Errorf("pods in %s: %d %v", ns, len(pods.Items), err)
		}
		if ev := warningsOn(ctx, ds); len(ev) > 0 {
			t.Errorf("warning events: %v", ev)
		}
		after := metricValue(scrape(t, currentController()), `daemonset_controller_syncs_total{result="error"}`)
		if after != before {
			t.Errorf("syncs_total{result=\"error\"} went from %v to %v: %s", before, after, strings.Join(syncFailedLines(t, ""), "\n"))
		}
		if lines := syncFailedLines(t, ns+"/"+ds.Name); len(lines) > 0 {
			t.Errorf("sync failures:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("dozens of taints, hundreds of labels", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-taints"
		lbls := map[string]string{groupKey: ns}
		for i := 0; i < 300; i++ {
			lbls[fmt.Sprintf("badinput.example/label-%03d", i)] = fmt.Sprintf("%03d-%s", i, strings.Repeat("v", 59))
		}
		taints := []v1.Taint{groupTaint(ns)}
		var tolerations []v1.Toleration
		effects := []v1.TaintEffect{v1.TaintEffectNoSchedule, v1.TaintEffectNoExecute, v1.TaintEffectPreferNoSchedule}
		for i := 0; i < 40; i++ {
			taint := v1.Taint{Key: fmt.Sprintf("badinput.example/taint-%02d", i), Value: fmt.Sprint(i), Effect: effects[i%3]}
			taints = append(taints, taint)
			tolerations = append(tolerations, v1.Toleration{Key: taint.Key, Operator: v1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect})
		}
		untolerated := v1.Taint{Key: "badinput.example/untolerated", Effect: v1.TaintEffectNoSchedule}
		nodes := []string{"badinput-taints-all-tolerated", "badinput-taints-one-not"}
		opts := []bed.NodeOptions{{Labels: lbls, Taints: taints}, {Labels: lbls, Taints: append(append([]v1.Taint(nil), taints...), untolerated)}}
		t.Cleanup(func() { deleteNodes(t, nodes) })
		for i, n := range nodes {
			if err := tb.CreateNode(ctx, n, opts[i]); err != nil {
				t.Fatalf("creating node %s: %v", n, err)
			}
		}
		if err := tb.WaitNodesReady(ctx, 2*time.Minute, nodes...); err != nil {
			t.Fatal(err)
		}
		tempNamespace(t, ns)
		ds := fastDaemonSet(ns, "agent", ns)
		ds.Spec.Template.Spec.Tolerations = append(ds.Spec.Template.Spec.Tolerations, tolerations...)
		for i := 0; i < 300; i += 30 {
			k := fmt.Sprintf("badinput.example/label-%03d", i)
			ds.Spec.Template.Spec.NodeSelector[k] = lbls[k]
		}
		ds = createDaemonSet(t, ds)
		eventually(t, time.Minute, "a pod on the node whose taints are all tolerated only", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, nodes[:1]); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 1, 1)
		})
		// The untolerated taint goes: the other node gets its pod.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := tb.Client.CoreV1().Nodes().Get(ctx, nodes[1], metav1.GetOptions{})
			if err != nil {
				return err
			}
			var kept []v1.Taint
			for _, taint := range n.Spec.Taints {
				if taint.Key != untolerated.Key {
					kept = append(kept, taint)
				}
			}
			n.Spec.Taints = kept
			_, err = tb.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "a pod on both nodes once the untolerated taint is gone", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, nodes); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 2, 2)
		})
	})

	t.Run("node name of 253 characters", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-longname"
		// A valid DNS subdomain at the limit: 63+1+63+1+63+1+61 characters.
		first := "badinput-longname-" + strings.Repeat("a", 63-len("badinput-longname-"))
		name := strings.Join([]string{first, strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 61)}, ".")
		if len(name) != 253 {
			t.Fatalf("the name has %d characters", len(name))
		}
		node := &v1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				// A label value holds at most 63 characters: the
				// hostname label gets the first DNS label, as a kubelet
				// with such a long FQDN would need to be told.
				Labels:      map[string]string{"kubernetes.io/hostname": first, "kubernetes.io/os": "linux", "type": "kwok", groupKey: ns},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Spec: v1.NodeSpec{Taints: []v1.Taint{groupTaint(ns)}},
		}
		if _, err := tb.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating a node with a 253-character name: %v", err)
		}
		t.Cleanup(func() { deleteNodes(t, []string{name}) })
		if err := tb.WaitNodesReady(ctx, 2*time.Minute, name); err != nil {
			t.Fatal(err)
		}
		tempNamespace(t, ns)
		ds := createDaemonSet(t, fastDaemonSet(ns, "agent", ns))
		eventually(t, time.Minute, "a Running, Ready pod on the long-named node", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, []string{name}); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 1, 1)
		})
		// The node leaves: its pod is cleaned up.
		deleteNodes(t, []string{name})
		eventually(t, time.Minute, "the pod gone with the node", func(ctx context.Context) string {
			if msg := controlledPodsOn(ctx, ds, nil); msg != "" {
				return msg
			}
			return dsStatusIs(ctx, ds, 0, 0)
		})
	})

	t.Run("template of 1 MiB", func(t *testing.T) {
		ctx := context.Background()
		const ns = "badinput-big"
		nodes := groupNodes(ns, 2)
		isolatedNodes(t, ns, nodes)
		tempNamespace(t, ns)
		ds := fastDaemonSet(ns, "agent", ns)
		// Annotations may hold 256 KiB in all; the rest of the MiB goes
		// into environment variables. The DaemonSet, its revision and each
		// pod are then ~1 MiB: below etcd's 1.5 MiB per write, well above
		// anything usual.
		blob := strings.Repeat("x", 250<<10)
		ds.Spec.Template.Annotations = map[string]string{"badinput.example/blob": blob}
		for i := 0; i < 3; i++ {
			ds.Spec.Template.Spec.Containers[0].Env = append(ds.Spec.Template.Spec.Containers[0].Env,
				v1.EnvVar{Name: fmt.Sprintf("BLOB_%d", i), Value: strings.Repeat(fmt.Sprint(i), 250<<10)})
		}
		data, err := json.Marshal(ds.Spec.Template)
		if err != nil {
			t.Fatal(err)
		}
		if size := len(data); size < 1000<<10 || size > 1<<20 {
			t.Fatalf("the template has %d bytes, want just under 1 MiB", size)
		}
		t.Logf("template: %d bytes", len(data))
		ds = createDaemonSet(t, ds)
		// Status first: listing 1 MiB pods every 100 ms is costly.
		eventually(t, 2*time.Minute, "the status: 2 desired, 2 ready", func(ctx context.Context) string {
			cur, err := tb.Client.AppsV1().DaemonSets(ns).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if s := cur.Status; s.ObservedGeneration != cur.Generation || s.DesiredNumberScheduled != 2 ||
				s.CurrentNumberScheduled != 2 || s.NumberReady != 2 || s.UpdatedNumberScheduled != 2 {
				return "status " + s.String()
			}
			return ""
		})
		eventually(t, 30*time.Second, "one Running, Ready pod on each node", func(ctx context.Context) string {
			return controlledPodsOn(ctx, ds, nodes)
		})
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		for n, pods := range byNode {
			p := pods[0]
			if p.Annotations["badinput.example/blob"] != blob || len(p.Spec.Containers[0].Env) != 3 ||
				p.Spec.Containers[0].Env[2].Value != ds.Spec.Template.Spec.Containers[0].Env[2].Value {
				t.Errorf("the pod on %s does not carry the whole template", n)
			}
		}
		revs, err := tb.Client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(revs.Items) != 1 || len(revs.Items[0].Data.Raw) < 1000<<10 {
			t.Errorf("want one ControllerRevision holding the whole template: %d %v", len(revs.Items), err)
		}
		if ev := warningsOn(ctx, ds); len(ev) > 0 {
			t.Errorf("warning events: %v", ev)
		}
	})
}

// fastDaemonSet is simpleDaemonSet with pods that end at once when deleted.
func fastDaemonSet(ns, name, group string) *appsv1.DaemonSet {
	ds := simpleDaemonSet(ns, name, group)
	zero := int64(0)
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = &zero
	return ds
}

// tempNamespace creates ns and, when the test ends, deletes it and waits
// until it is gone, so that nothing of it is left to later tests.
func tempNamespace(t *testing.T, ns string) {
	t.Helper()
	createNamespace(t, ns)
	t.Cleanup(func() {
		ctx := context.Background()
		err := tb.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns, err)
			return
		}
		err = tb.WaitFor(ctx, 3*time.Minute, "namespace "+ns+" gone", func(ctx context.Context) (bool, error) {
			_, err := tb.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Error(err)
		}
	})
}

// denyInNamespace installs a ValidatingAdmissionPolicy and its binding that
// refuse op on resource in namespace ns unless expression holds; the test's
// cleanup removes them.
func denyInNamespace(t *testing.T, name, ns string, op admissionv1.OperationType, group, res, expression, message string) {
	t.Helper()
	ctx := context.Background()
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{op},
					Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{res}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: expression, Message: message}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	api := tb.Client.AdmissionregistrationV1()
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deletePolicy(t, name) })
	if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func deletePolicy(t *testing.T, name string) {
	ctx := context.Background()
	api := tb.Client.AdmissionregistrationV1()
	if err := api.ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting policy binding %s: %v", name, err)
	}
	if err := api.ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting policy %s: %v", name, err)
	}
}

// ownPods returns the live pods controlled by ds, by the node they are for.
func controlledPods(ctx context.Context, ds *appsv1.DaemonSet) (map[string][]v1.Pod, error) {
	byNode, err := daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	out := map[string][]v1.Pod{}
	for n, pods := range byNode {
		for _, p := range pods {
			if metav1.IsControlledBy(&p, ds) && p.DeletionTimestamp == nil {
				out[n] = append(out[n], p)
			}
		}
	}
	return out, nil
}

// controlledPodsOn reports "" when ds controls exactly one Running, Ready pod on
// each of nodes and none elsewhere; pods of others are not counted.
func controlledPodsOn(ctx context.Context, ds *appsv1.DaemonSet, nodes []string) string {
	byNode, err := controlledPods(ctx, ds)
	if err != nil {
		return err.Error()
	}
	return placed(byNode, nodes)
}

// controlledReady reports "" when ds controls exactly n Running, Ready pods.
func controlledReady(ctx context.Context, ds *appsv1.DaemonSet, n int) string {
	byNode, err := controlledPods(ctx, ds)
	if err != nil {
		return err.Error()
	}
	ready := 0
	for _, pods := range byNode {
		for _, p := range pods {
			if runningReady(&p) {
				ready++
			}
		}
	}
	if ready != n {
		return fmt.Sprintf("%d Running, Ready pods, want %d", ready, n)
	}
	return ""
}

// dsStatusIs reports "" when the DaemonSet's status, for its current
// generation, has the desired and current counts given.
func dsStatusIs(ctx context.Context, ds *appsv1.DaemonSet, desired, current int32) string {
	cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	s := cur.Status
	if s.ObservedGeneration != cur.Generation || s.DesiredNumberScheduled != desired || s.CurrentNumberScheduled != current ||
		s.NumberMisscheduled != 0 {
		return fmt.Sprintf("status %s, want generation %d observed, %d desired, %d current", s.String(), cur.Generation, desired, current)
	}
	return ""
}

func zeroStatusAt(ctx context.Context, ds *appsv1.DaemonSet, generation int64) string {
	cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	if cur.Generation != generation || !equality.Semantic.DeepEqual(cur.Status, appsv1.DaemonSetStatus{ObservedGeneration: generation}) {
		return fmt.Sprintf("generation %d, status %s", cur.Generation, cur.Status.String())
	}
	return ""
}

// warningSays reports "" once ds has a warning event with reason whose
// message contains text.
func warningSays(ds *appsv1.DaemonSet, reason, text string) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		list, err := tb.Client.CoreV1().Events(ds.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + ds.Name + ",reason=" + reason + ",type=Warning",
		})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if strings.Contains(e.Message, text) {
				return ""
			}
			seen = append(seen, e.Message)
		}
		return fmt.Sprintf("%s warnings: %q", reason, seen)
	}
}

// warnings lists the warning events on ds.
func warningsOn(ctx context.Context, ds *appsv1.DaemonSet) []string {
	list, err := tb.Client.CoreV1().Events(ds.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + ds.Name + ",type=Warning",
	})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// bystanderConverges creates a DaemonSet in a namespace of its own on the
// bystander nodes while something else is failing, and checks that it is
// served at once: its pods are all created within 3 s (the rest of its
// rollout is kube-scheduler's and kwok's), and it is rolled out within 20 s.
func bystanderConverges(t *testing.T, ns string) {
	t.Helper()
	tempNamespace(t, ns)
	mark := auditHere(t)
	ds := createDaemonSet(t, fastDaemonSet(ns, "bystander", "badinput-bystander"))
	nodes := groupNodes("badinput-bystander", 2)
	eventually(t, 20*time.Second, "the bystander DaemonSet rolled out", func(ctx context.Context) string {
		if msg := controlledPodsOn(ctx, ds, nodes); msg != "" {
			return msg
		}
		return dsStatusIs(ctx, ds, 2, 2)
	})
	rolledOut := time.Since(mark.at)
	var created []time.Time
	for _, r := range requestsAfter(t, mark) {
		if r.isPodCreate(ns) && r.code() == 201 {
			created = append(created, r.Received)
		}
	}
	if len(created) != len(nodes) {
		t.Fatalf("%d pods created for the bystander, want %d", len(created), len(nodes))
	}
	var last time.Duration
	for _, at := range created {
		last = max(last, at.Sub(mark.at))
	}
	t.Logf("a DaemonSet elsewhere meanwhile: its pods created within %v, rolled out in %v",
		last.Round(10*time.Millisecond), rolledOut.Round(100*time.Millisecond))
	if last > 3*time.Second {
		t.Errorf("the bystander's pods were created %v after it: slowed down by the failing DaemonSet", last.Round(10*time.Millisecond))
	}
}

// checkCreateBackoff observes the refused pod creations in ns for window from the
// first refusal, and checks that they thin out: far fewer than a hot loop
// would make, and fewer in the second half of the window than in the first,
// with a growing gap. It returns the number of refusals seen.
func checkCreateBackoff(t *testing.T, mark auditCursor, ns string, window time.Duration) int {
	t.Helper()
	var first time.Time
	eventually(t, window+time.Minute, fmt.Sprintf("%v of refused creations observed", window), func(context.Context) string {
		if first.IsZero() {
			for _, r := range requestsAfter(t, mark) {
				if r.isPodCreate(ns) && r.code() >= 400 {
					first = r.Received
					break
				}
			}
			if first.IsZero() {
				return "no refused creation yet"
			}
		}
		if d := time.Since(first); d < window {
			return fmt.Sprintf("%v so far", d.Round(time.Second))
		}
		return ""
	})
	end := first.Add(window)
	reqs := requestsAfter(t, mark)
	var refused []time.Time
	for _, r := range reqs {
		if r.isPodCreate(ns) && r.code() >= 400 && !r.Received.After(end) {
			refused = append(refused, r.Received)
		}
	}
	sort.Slice(refused, func(i, j int) bool { return refused[i].Before(refused[j]) })
	t.Logf("refused creations in %v: %d, at %s", window, len(refused), secondsAfter(refused, first))
	// At --kube-api-qps 20 a hot loop makes ~20 attempts a second.
	if limit := int(window.Seconds()); len(refused) > limit {
		t.Errorf("%d refused creations in %v: more than one a second, no backoff", len(refused), window)
	}
	half := first.Add(window / 2)
	early, late := len(refused)-countLater(refused, half), countLater(refused, half)
	if late > 3 || late >= early {
		t.Errorf("refused creations do not thin out: %d in the first half of %v, %d in the second", early, window, late)
	}
	var longest time.Duration
	for i := 1; i < len(refused); i++ {
		longest = max(longest, refused[i].Sub(refused[i-1]))
	}
	if since := end.Sub(refused[len(refused)-1]); max(longest, since) < 5*time.Second {
		t.Errorf("the longest pause between refused creations is %v: the backoff does not grow", max(longest, since))
	}
	checkRequestRate(t, reqs, ns, first, end)
	return len(refused)
}

// untilNextAttempt returns how long until the controller's next attempt to
// create a pod in ns, from the last two refusals since mark: the backoff
// doubles (1 s, 2 s, 4 s, ...) while every attempt is refused.
func untilNextAttempt(t *testing.T, mark auditCursor, ns string) time.Duration {
	t.Helper()
	var refused []time.Time
	for _, r := range requestsAfter(t, mark) {
		if r.isPodCreate(ns) && r.code() >= 400 {
			refused = append(refused, r.Received)
		}
	}
	sort.Slice(refused, func(i, j int) bool { return refused[i].Before(refused[j]) })
	if len(refused) < 2 {
		t.Fatalf("%d refused creations in %s: no backoff to follow", len(refused), ns)
	}
	last, prev := refused[len(refused)-1], refused[len(refused)-2]
	next := last.Add(min(2*last.Sub(prev), 5*time.Minute))
	t.Logf("the next attempt is due %.1fs after the last refusal, %v from now", next.Sub(last).Seconds(), time.Until(next).Round(100*time.Millisecond))
	return max(time.Until(next), 0)
}

// checkRequestRate checks that the controller's requests between from and
// to, in all and for namespace ns, stay far below what its client allows.
func checkRequestRate(t *testing.T, reqs []auditEvent, ns string, from, to time.Time) {
	t.Helper()
	all, inNS := 0, 0
	byKind := map[string]int{}
	for _, r := range reqs {
		if r.Received.Before(from) || r.Received.After(to) || r.Stage != "ResponseComplete" {
			continue
		}
		all++
		if r.ObjectRef != nil && r.ObjectRef.Namespace == ns {
			inNS++
			byKind[r.Verb+" "+r.ObjectRef.Resource+"/"+r.ObjectRef.Subresource]++
		}
	}
	secs := to.Sub(from).Seconds()
	t.Logf("controller requests over %.0f s: %d in all (%.1f/s), %d for %s (%.1f/s): %v",
		secs, all, float64(all)/secs, inNS, ns, float64(inNS)/secs, byKind)
	if rate := float64(inNS) / secs; rate > 2 {
		t.Errorf("%.1f requests/s for the failing DaemonSet's namespace, want at most 2", rate)
	}
	if rate := float64(all) / secs; rate > 5 {
		t.Errorf("%.1f requests/s from the controller in all, want at most 5 (its client allows 20)", rate)
	}
}

func countLater(times []time.Time, after time.Time) int {
	n := 0
	for _, at := range times {
		if at.After(after) {
			n++
		}
	}
	return n
}

// offsets formats times as seconds after start.
func secondsAfter(times []time.Time, start time.Time) string {
	var out []string
	for _, at := range times {
		out = append(out, fmt.Sprintf("%.2fs", at.Sub(start).Seconds()))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// auditCursor is a position in the audit log and when it was taken.
type auditCursor struct {
	size int64
	at   time.Time
}

func auditHere(t *testing.T) auditCursor {
	t.Helper()
	st, err := os.Stat(tb.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	return auditCursor{size: st.Size(), at: time.Now()}
}

func (r auditEvent) isPodCreate(ns string) bool {
	return r.Verb == "create" && r.ObjectRef != nil && r.ObjectRef.Resource == "pods" &&
		r.ObjectRef.Subresource == "" && r.ObjectRef.Namespace == ns
}

func (r auditEvent) code() int {
	if r.ResponseStatus == nil {
		return 0
	}
	return r.ResponseStatus.Code
}

// requestsAfter returns the controller's completed requests in
// the audit log after mark.
func requestsAfter(t *testing.T, mark auditCursor) []auditEvent {
	t.Helper()
	var out []auditEvent
	for _, e := range auditEventsSince(t, mark.size) {
		if e.User.Username == bed.ControllerUser && e.Stage == "ResponseComplete" {
			out = append(out, e)
		}
	}
	return out
}

// syncFailedLines returns the controller's "Sync failed" log lines for the
// DaemonSet key (all of them when key is "").
func syncFailedLines(t *testing.T, key string) []string {
	t.Helper()
	data, err := os.ReadFile(currentController().Log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "Sync failed") && (key == "" || strings.Contains(line, `daemonset="`+key+`"`)) {
			out = append(out, line)
		}
	}
	return out
}

// foreignWatcher records every deletion of, or change of controller on, the
// pods it was given, from a watch on their namespace.
type foreignWatcher struct {
	mu       sync.Mutex
	bad      []string
	mayGo    map[types.UID]bool
	stopOnce func()
}

func (f *foreignWatcher) allowDelete(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mayGo[uid] = true
}

func (f *foreignWatcher) report() []string {
	f.stopOnce()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

// watchForeign watches the pods of ns: a pod of owners (pod UID to the UID
// of its controller, "" for none) that is deleted or whose controller
// changes is reported.
func watchForeign(t *testing.T, ns string, owners map[types.UID]string) *foreignWatcher {
	w := watchPods(t, ns)
	f := &foreignWatcher{mayGo: map[types.UID]bool{}}
	done := make(chan struct{})
	var once sync.Once
	f.stopOnce = func() { once.Do(func() { w.Stop(); <-done }) }
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			want, ok := owners[pod.UID]
			if !ok {
				continue
			}
			got := ""
			if ref := metav1.GetControllerOf(pod); ref != nil {
				got = string(ref.UID)
			}
			f.mu.Lock()
			if (ev.Type == watch.Deleted || pod.DeletionTimestamp != nil) && !f.mayGo[pod.UID] {
				f.bad = append(f.bad, fmt.Sprintf("pod %s (controller %q) was deleted", pod.Name, want))
			}
			if got != want {
				f.bad = append(f.bad, fmt.Sprintf("pod %s changed controller from %q to %q", pod.Name, want, got))
			}
			f.mu.Unlock()
		}
	}()
	return f
}
