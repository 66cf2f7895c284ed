package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// The fault suite. `make test` runs it small; `make chaos` (CHAOS=full)
// runs it at the sizes of issue 6: 500 nodes, five kills per phase, 200
// DaemonSets on 500 nodes. docs/guarantees.md states what it proves.
type chaosScale struct {
	nodes     int // for the kill and restart tests
	kills     int // per phase
	loadDS    int
	loadNodes int
	loadQPS   int // the controller's client limit in the load test
}

func scale() chaosScale {
	if os.Getenv("CHAOS") == "full" {
		return chaosScale{nodes: 500, kills: 5, loadDS: 200, loadNodes: 500, loadQPS: 500}
	}
	return chaosScale{nodes: 60, kills: 2, loadDS: 20, loadNodes: 40, loadQPS: 100}
}

// chaosRand is seeded from the clock and logged, so a failing run's random
// moments can be replayed with CHAOS_SEED.
func chaosRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("CHAOS_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

func chaosNodes(t *testing.T, group string, n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("%s-%03d", group, i))
	}
	isolatedNodes(t, group, names)
	return names
}

// killAtRandom SIGKILLs the controller kills times, each at a random moment
// 0.5 to 4 s after it (re)started, and starts it again with args; it logs
// how far the DaemonSet had got at each kill, so the log shows the kills
// hit mid-work.
func killAtRandom(t *testing.T, rng *rand.Rand, kills int, progress func(ctx context.Context) string, args ...string) {
	t.Helper()
	for i := range kills {
		time.Sleep(time.Duration(500+rng.IntN(3500)) * time.Millisecond)
		checkController(t)
		currentController().Kill()
		t.Logf("kill %d/%d: %s", i+1, kills, progress(context.Background()))
		if err := restartController(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// rolloutProgress describes how many nodes run a Ready pod of image.
func rolloutProgress(ds *appsv1.DaemonSet, image string) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil {
			return err.Error()
		}
		pods, ready := 0, 0
		for _, ps := range byNode {
			for i := range ps {
				if ps[i].Spec.Containers[0].Image == image {
					pods++
					if runningReady(&ps[i]) {
						ready++
					}
				}
			}
		}
		return fmt.Sprintf("%d pods of %s, %d Ready", pods, image, ready)
	}
}

// TestChaosKill: SIGKILL at random moments during a rollout and during a
// rolling update; the controller restarts each time. No node ever holds
// two pods, and everything converges. Leader election is off here: with
// it, each restart first waits out the killed process's lease, and the
// kills would land while nothing happens.
func TestChaosKill(t *testing.T) {
	sc, rng := scale(), chaosRand(t)
	nodes := chaosNodes(t, "ck", sc.nodes)
	createNamespace(t, "chaos-kill")
	inv := watchInvariant(t, "chaos-kill")
	noElection := "--leader-elect=false"
	stopController()
	if err := restartController(noElection); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopController()
		if err := restartController(); err != nil {
			t.Error(err)
		}
	}()
	ds := createDaemonSet(t, rolloutDaemonSet("chaos-kill", "agent", "ck", "10%", "0"))
	killAtRandom(t, rng, sc.kills, rolloutProgress(ds, "registry.example/daemon:1"), noElection)
	settle(t, ds, nodes, "registry.example/daemon:1", 5*time.Minute)

	setImage(t, ds, "registry.example/daemon:2")
	killAtRandom(t, rng, sc.kills, rolloutProgress(ds, "registry.example/daemon:2"), noElection)
	settle(t, ds, nodes, "registry.example/daemon:2", 10*time.Minute)
	inv.check(t)
	quiet(t)
}

// TestChaosControlPlaneRestart: kube-apiserver, then etcd, is restarted
// (same data) in the middle of a rollout. The controller rides it out
// without restarting, and nothing is doubled.
func TestChaosControlPlaneRestart(t *testing.T) {
	sc := scale()
	nodes := chaosNodes(t, "cr", sc.nodes)
	createNamespace(t, "chaos-restart")
	inv := watchInvariant(t, "chaos-restart")
	for i, component := range []string{"kube-apiserver", "etcd"} {
		image := fmt.Sprintf("registry.example/daemon:%d", i+1)
		var ds *appsv1.DaemonSet
		if i == 0 {
			ds = createDaemonSet(t, rolloutDaemonSet("chaos-restart", "agent", "cr", "10%", "0"))
		} else {
			ds, _ = tb.Client.AppsV1().DaemonSets("chaos-restart").Get(context.Background(), "agent", metav1.GetOptions{})
			setImage(t, ds, image)
		}
		progress := rolloutProgress(ds, image)
		eventually(t, time.Minute, "the rollout under way", func(ctx context.Context) string {
			var pods int
			fmt.Sscan(progress(ctx), &pods)
			if pods < 3 {
				return progress(ctx)
			}
			return ""
		})
		t.Logf("restarting %s: %s", component, progress(context.Background()))
		ctrlMu.Lock()
		ctrlDown = true // it may exit: see below
		ctrlMu.Unlock()
		began := time.Now()
		if err := tb.Restart(context.Background(), component, component == "etcd"); err != nil {
			t.Fatalf("restarting %s: %v", component, err)
		}
		back := time.Now()
		t.Logf("%s answered again after %v", component, back.Sub(began).Round(100*time.Millisecond))
		// A leader that cannot renew its lease for the renew deadline (10 s)
		// exits 1, as kube-controller-manager does, and its Deployment
		// restarts it; shorter outages it rides out. Which one it was shows
		// once it has either exited or renewed its lease since.
		c := currentController()
		eventually(t, 30*time.Second, "the controller exited or renewed its lease", func(ctx context.Context) string {
			if c.Exited() {
				return ""
			}
			l, err := tb.Client.CoordinationV1().Leases("kube-system").Get(ctx, "daemonset-controller", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if leaseHeldBy(c)(ctx) == "" && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(back) {
				return ""
			}
			return "neither yet"
		})
		if c.Exited() {
			if !leaseLost(c) {
				t.Fatalf("the controller exited %d without saying it lost its lease:\n%s", c.ExitCode(), bed.Tail(c.Log, 3))
			}
			t.Logf("the controller lost its lease during the outage, exited 1 and is restarted")
			if err := restartController(); err != nil {
				t.Fatal(err)
			}
		} else {
			ctrlMu.Lock()
			ctrlDown = false
			ctrlMu.Unlock()
			t.Logf("the controller rode the outage out")
		}
		settle(t, ds, nodes, image, 5*time.Minute)
		checkController(t)
	}
	inv.check(t)
	quiet(t)
}

// TestChaosLoad: many DaemonSets created together on many nodes, then a
// label change on every node at once that moves half of them to the other
// half's nodes. It converges and the invariant holds.
func TestChaosLoad(t *testing.T) {
	sc := scale()
	stopController()
	if err := restartController(fmt.Sprintf("--kube-api-qps=%d", sc.loadQPS), fmt.Sprintf("--kube-api-burst=%d", 2*sc.loadQPS)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopController()
		if err := restartController(); err != nil {
			t.Error(err)
		}
	}()
	nodes := chaosNodes(t, "cl", sc.loadNodes)
	setNodeLabel(t, nodes, "chaos-tier", "a")
	createNamespace(t, "chaos-load")
	inv := watchInvariant(t, "chaos-load")
	var dss []*appsv1.DaemonSet
	var wg sync.WaitGroup
	var mu sync.Mutex
	// At full size (50,000 pods) the bed's scheduler and kwok make about
	// 6 pods a second Ready on 2 cores, hours for the lot: there the check
	// is the controller's part (every pod created, and removed, where it
	// should be, and the status counts), not kwok's readiness. Nor is kwok
	// left to finalise 50,000 graceful deletions: the pods have no grace
	// period, so the API server removes them when the controller deletes.
	full := os.Getenv("CHAOS") == "full"
	ready := !full
	for i := range sc.loadDS {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := simpleDaemonSet("chaos-load", fmt.Sprintf("load-%03d", i), "cl")
			ds.Spec.Template.Spec.NodeSelector["chaos-tier"] = []string{"a", "b"}[i%2]
			if full {
				ds.Spec.Template.Spec.TerminationGracePeriodSeconds = new(int64)
			}
			created, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Create(context.Background(), ds, metav1.CreateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			dss = append(dss, created)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(dss, func(i, j int) bool { return dss[i].Name < dss[j].Name })
	want := func(tier string) func(ds *appsv1.DaemonSet) []string {
		return func(ds *appsv1.DaemonSet) []string {
			if ds.Spec.Template.Spec.NodeSelector["chaos-tier"] == tier {
				return nodes
			}
			return nil
		}
	}
	start := time.Now()
	settleAll(t, dss, want("a"), ready, 15*time.Minute)
	t.Logf("%d DaemonSets x %d nodes (%d pods) converged in %v", len(dss), len(nodes), len(dss)/2*len(nodes), time.Since(start).Round(time.Second))

	start = time.Now()
	setNodeLabel(t, nodes, "chaos-tier", "b")
	settleAll(t, dss, want("b"), ready, 15*time.Minute)
	t.Logf("after relabelling every node: converged in %v", time.Since(start).Round(time.Second))
	inv.check(t)
	if ready {
		quiet(t) // at full size kwok is still making pods Ready, and status follows
	}
	for _, ds := range dss {
		_ = tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	}
}

func setNodeLabel(t *testing.T, nodes []string, k, v string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, k, v))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := tb.Client.CoreV1().Nodes().Patch(context.Background(), n, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Errorf("labelling %s: %v", n, err)
			}
		}()
	}
	wg.Wait()
}

// settleAll waits until every DaemonSet has converged on the nodes want
// gives it, reporting the first that has not.
func settleAll(t *testing.T, dss []*appsv1.DaemonSet, want func(*appsv1.DaemonSet) []string, ready bool, within time.Duration) {
	t.Helper()
	eventually(t, within, "every DaemonSet converged", func(ctx context.Context) string {
		pods, err := tb.Client.CoreV1().Pods(dss[0].Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		byOwner := map[types.UID]map[string][]v1.Pod{}
		for _, p := range pods.Items {
			if o := metav1.GetControllerOf(&p); o != nil && p.DeletionTimestamp == nil {
				if byOwner[o.UID] == nil {
					byOwner[o.UID] = map[string][]v1.Pod{}
				}
				byOwner[o.UID][targetNode(&p)] = append(byOwner[o.UID][targetNode(&p)], p)
			}
		}
		list, err := tb.Client.AppsV1().DaemonSets(dss[0].Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, ds := range list.Items {
			nodes := want(&ds)
			if ready {
				if msg := placed(byOwner[ds.UID], nodes); msg != "" {
					return ds.Name + ": " + msg
				}
			} else if msg := onePodEach(byOwner[ds.UID], nodes); msg != "" {
				return ds.Name + ": " + msg
			}
			s := ds.Status
			n := int32(len(nodes))
			if s.ObservedGeneration != ds.Generation || s.DesiredNumberScheduled != n || s.CurrentNumberScheduled != n ||
				s.NumberMisscheduled != 0 || (ready && s.NumberReady != n) {
				return fmt.Sprintf("%s: status %+v", ds.Name, s)
			}
		}
		return ""
	})
}

// quiet checks that, once everything has converged, the controller makes
// (almost) no API requests: no hot loop. Lease renewals, which leader
// election makes every retry period, and the metrics endpoint's reviews
// are left out.
func quiet(t *testing.T) {
	t.Helper()
	offset := auditSize(t)
	from := time.Now()
	time.Sleep(10 * time.Second)
	reqs := controllerRequestsSince(t, offset, from)
	var total int
	for _, n := range reqs {
		total += n
	}
	t.Logf("API requests by the converged controller in 10 s: %v", reqs)
	if total > 10 {
		t.Errorf("the converged controller made %d API requests in 10 s (a hot loop?): %v", total, reqs)
	}
}

func auditSize(t *testing.T) int64 {
	st, err := os.Stat(tb.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// controllerRequestsSince counts the controller user's requests in the
// audit log after offset and at or after from, by verb and resource,
// leaving out leases and token and access reviews.
func controllerRequestsSince(t *testing.T, offset int64, from time.Time) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range auditEventsSince(t, offset) {
		if e.User.Username != bed.ControllerUser || e.ObjectRef == nil || e.Received.Before(from) {
			continue
		}
		switch e.ObjectRef.Resource {
		case "leases", "tokenreviews", "subjectaccessreviews":
			continue
		}
		out[e.Verb+" "+e.ObjectRef.Resource]++
	}
	return out
}

// auditEventsSince returns the audit log's events after offset (bytes).
func auditEventsSince(t *testing.T, offset int64) []auditEvent {
	t.Helper()
	f, err := os.Open(tb.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditEvent
	for _, line := range strings.Split(string(data), "\n") {
		var e auditEvent
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// onePodEach is placed without readiness: exactly one live pod for each
// wanted node, none elsewhere.
func onePodEach(byNode map[string][]v1.Pod, want []string) string {
	wanted := map[string]bool{}
	for _, n := range want {
		wanted[n] = true
		if len(byNode[n]) != 1 {
			return fmt.Sprintf("node %s has %d pods", n, len(byNode[n]))
		}
	}
	for n, pods := range byNode {
		if !wanted[n] && len(pods) > 0 {
			return fmt.Sprintf("unwanted pods on %s", n)
		}
	}
	return ""
}
