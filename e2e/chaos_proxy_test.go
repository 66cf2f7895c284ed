package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// proxied starts a fault proxy in front of the API server and writes a
// kubeconfig with the controller's own token that goes through it.
func proxied(t *testing.T) (*bed.FaultProxy, string) {
	t.Helper()
	proxy, err := tb.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	_, token, err := tb.TokenKubeconfig(context.Background(), "kube-system", "daemonset-controller")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := proxy.WriteKubeconfig(path, token); err != nil {
		t.Fatal(err)
	}
	return proxy, path
}

// swapController replaces the suite's controller with one started from
// kubeconfig for the rest of the test, and puts the usual one back after.
func swapController(t *testing.T, kubeconfig string, args ...string) *controllerProc {
	t.Helper()
	stopController()
	p, err := startControllerWith(kubeconfig, args...)
	if err != nil {
		t.Fatal(err)
	}
	ctrlMu.Lock()
	ctrl, ctrlDown = p, false
	ctrlMu.Unlock()
	t.Cleanup(func() {
		stopController()
		if err := restartController(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// superviseLeases does for the proxied controller what its Deployment
// would: a controller that exits 1 because it lost its lease (the faults
// hit lease renewals too, and enough of them in a row cost the lease) is
// started again through the same kubeconfig. Any other exit fails the test.
// The returned stop ends the supervision and reports how many restarts
// there were; the controller is running when it returns.
func superviseLeases(t *testing.T, kubeconfig string) (stop func() int) {
	t.Helper()
	done, finished := make(chan struct{}), make(chan struct{})
	restarts := 0
	restart := func() bool {
		c := currentController()
		if !c.Exited() {
			return true
		}
		if !leaseLost(c) {
			t.Errorf("the controller exited %d without losing its lease:\n%s", c.ExitCode(), bed.Tail(c.Log, 20))
			return false
		}
		p, err := startControllerWith(kubeconfig)
		if err != nil {
			t.Error(err)
			return false
		}
		ctrlMu.Lock()
		ctrl = p
		ctrlMu.Unlock()
		restarts++
		t.Logf("the controller lost its lease under the faults and exited 1; restarted (%d)", restarts)
		return true
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if !restart() {
					return
				}
			}
		}
	}()
	return func() int {
		close(done)
		<-finished
		restart()
		return restarts
	}
}

// TestChaosProxyFaults: between the controller and the API server, a proxy
// answers 500s and 429s (Retry-After), resets connections, delays
// responses by up to two seconds and cuts every watch after five seconds,
// while a DaemonSet rolls out and then updates. The controller's request
// rate stays bounded throughout, no node ever holds two pods, and once
// the faults stop everything converges.
func TestChaosProxyFaults(t *testing.T) {
	sc, rng := scale(), chaosRand(t)
	nodes := chaosNodes(t, "cp", sc.nodes)
	createNamespace(t, "chaos-proxy")
	inv := watchInvariant(t, "chaos-proxy")
	proxy, conf := proxied(t)
	proxy.Seed(rng.Uint64())
	swapController(t, conf)
	stopSupervising := superviseLeases(t, conf)

	faults := bed.Faults{ErrorRate: 0.15, TooManyRate: 0.1, RetryAfterSeconds: 1, ResetRate: 0.05,
		MaxDelay: 2 * time.Second, WatchMaxLifetime: 5 * time.Second}
	start := time.Now()
	proxy.SetFaults(faults)
	ds := createDaemonSet(t, rolloutDaemonSet("chaos-proxy", "agent", "cp", "10%", "0"))
	time.Sleep(20 * time.Second) // the faults' duration, not a wait for an outcome
	t.Logf("after 20 s of faults: %s", rolloutProgress(ds, "registry.example/daemon:1")(context.Background()))
	setImage(t, ds, "registry.example/daemon:2")
	time.Sleep(20 * time.Second)
	t.Logf("after 40 s of faults: %s", rolloutProgress(ds, "registry.example/daemon:2")(context.Background()))
	proxy.SetFaults(bed.Faults{})
	took := time.Since(start)
	t.Logf("restarts after losing the lease: %d", stopSupervising())
	checkController(t)

	reqs := proxy.Requests(start)
	var during []bed.Request
	for _, r := range reqs {
		if r.Time.Before(start.Add(took)) {
			during = append(during, r)
		}
	}
	mean := float64(len(during)) / took.Seconds()
	peak := bed.PeakRate(during, time.Second)
	st := proxy.Stats()
	t.Logf("during %v of faults: %d requests (%.1f/s, peak %d in one second); outcomes %v; by method %v",
		took.Round(time.Second), len(during), mean, peak, st.ByOutcome, st.ByMethod)
	// The controller's client allows 20 requests/s (burst 30) and leader
	// election's another 20 (burst 30); a hot loop of retries would show
	// far above that.
	if mean > 40 || peak > 100 {
		t.Errorf("request rate during faults: mean %.1f/s, peak %d/s; want at most 40/s and 100 in any second", mean, peak)
	}
	if st.ByOutcome[bed.OutcomeError] == 0 || st.ByOutcome[bed.OutcomeTooMany] == 0 || st.ByOutcome[bed.OutcomeReset] == 0 || st.ByOutcome[bed.OutcomeCut] == 0 {
		t.Errorf("not every fault was injected: %v", st.ByOutcome)
	}
	settle(t, ds, nodes, "registry.example/daemon:2", 5*time.Minute)
	inv.check(t)
	quiet(t)
}

// TestChaosLeaderCutOff: two replicas; the leader reaches the API server
// through the proxy, which then holds every request it makes (a
// partition). The old leader must stop writing, and exit, before its lease
// can be taken, so that two controllers never write at once; the standby
// then takes over and finishes the work.
func TestChaosLeaderCutOff(t *testing.T) {
	nodes := chaosNodes(t, "cc", 10)
	createNamespace(t, "chaos-cut")
	inv := watchInvariant(t, "chaos-cut")
	proxy, conf := proxied(t)
	a := swapController(t, conf)
	eventually(t, 60*time.Second, "the proxied replica leads", leaseHeldBy(a))
	b, err := startController()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(10 * time.Second)
	waitReady(t, b)
	ds := createDaemonSet(t, rolloutDaemonSet("chaos-cut", "agent", "cc", "10%", "0"))
	settle(t, ds, nodes, "registry.example/daemon:1", 2*time.Minute)

	ctrlMu.Lock()
	ctrlDown = true // the cut-off leader is meant to exit
	ctrlMu.Unlock()
	cut := time.Now()
	proxy.SetFaults(bed.Faults{Blackhole: true})
	t.Log("the leader is cut off")
	setImage(t, ds, "registry.example/daemon:2") // work the old leader must not do
	var exitedAt time.Time
	var mu sync.Mutex
	go func() {
		for !a.Exited() {
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		exitedAt = time.Now()
		mu.Unlock()
	}()
	eventually(t, 60*time.Second, "the standby leads", leaseHeldBy(b))
	takenAt := time.Now()
	mu.Lock()
	exited := exitedAt
	mu.Unlock()

	var lastWrite time.Time
	var writes []string
	for _, r := range proxy.Requests(cut) {
		if r.Method != "GET" {
			lastWrite = r.Time
			writes = append(writes, fmt.Sprintf("%s %s at +%v", r.Method, r.Path, r.Time.Sub(cut).Round(time.Millisecond)))
		}
	}
	t.Logf("cut at 0; old leader exited at +%v; standby took the lease at +%v (observed); the old leader's write attempts: %v",
		exited.Sub(cut).Round(time.Millisecond), takenAt.Sub(cut).Round(time.Millisecond), writes)
	if exited.IsZero() || !exited.Before(takenAt) {
		t.Errorf("the old leader had not exited when the standby took the lease")
	}
	if !lastWrite.IsZero() && !lastWrite.Before(takenAt) {
		t.Errorf("the old leader tried to write at +%v, after the standby took the lease at +%v",
			lastWrite.Sub(cut), takenAt.Sub(cut))
	}
	if code := a.ExitCode(); code != 1 {
		t.Errorf("the old leader exited %d, want 1", code)
	}
	if log := bed.Tail(a.Log, 30); !strings.Contains(log, "lost the leader lease") {
		t.Errorf("the old leader's log does not say it lost the lease:\n%s", log)
	}
	proxy.SetFaults(bed.Faults{})
	settle(t, ds, nodes, "registry.example/daemon:2", 2*time.Minute)
	inv.check(t)
}

// leaseHeldBy reports "" once c's process holds the controller's lease.
func leaseHeldBy(c *controllerProc) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		l, err := tb.Client.CoordinationV1().Leases("kube-system").Get(ctx, "daemonset-controller", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if !strings.Contains(holder, fmt.Sprintf("_%d_", c.Pid())) {
			return fmt.Sprintf("held by %q, not pid %d", holder, c.Pid())
		}
		return ""
	}
}

// leaseLost reports whether c exited the way a leader that lost its lease
// must: status 1, saying so.
func leaseLost(c *controllerProc) bool {
	return c.Exited() && c.ExitCode() == 1 && strings.Contains(bed.Tail(c.Log, 3), "lost the leader lease")
}
