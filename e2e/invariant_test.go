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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// podRecord records every pod event in a namespace, across API server and
// etcd restarts (the watch resumes from the last resourceVersion it saw),
// and remembers every moment at which a node held two pods of one owner
// (so it is for DaemonSets that do not surge).
//
// A restarted kube-apiserver may refuse to resume from a resourceVersion
// older than its fresh watch cache (410 Gone). The record then lists the
// pods again and goes on from there, and counts the gap: it can only span
// events committed before the API server went down and not yet delivered.
type podRecord struct {
	mu      sync.Mutex
	live    map[string]map[types.UID]bool // owner/node -> pods
	doubled map[string]bool
	events  int
	gaps    int
	done    chan struct{}
}

func watchInvariant(t *testing.T, ns string) *podRecord {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inv := &podRecord{doubled: map[string]bool{}, done: make(chan struct{})}
	w, err := inv.relist(ctx, ns)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(inv.done)
		for {
			inv.follow(ctx, w)
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			inv.mu.Lock()
			inv.gaps++
			inv.mu.Unlock()
			for w, err = inv.relist(ctx, ns); err != nil; w, err = inv.relist(ctx, ns) {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(200 * time.Millisecond) // the API server is still down
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-inv.done })
	return inv
}

// relist replaces the record's view with a fresh list and returns a watch
// that resumes from it.
func (inv *podRecord) relist(ctx context.Context, ns string) (watch.Interface, error) {
	list, err := tb.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	inv.mu.Lock()
	inv.live = map[string]map[types.UID]bool{}
	inv.mu.Unlock()
	for i := range list.Items {
		inv.record(watch.Added, &list.Items[i])
	}
	return watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return tb.Client.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
}

// follow records w's pod events until it ends or reports an error (the
// resourceVersion is gone).
func (inv *podRecord) follow(ctx context.Context, w watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			if pod, isPod := ev.Object.(*v1.Pod); isPod {
				inv.record(ev.Type, pod)
			}
		}
	}
}

func (inv *podRecord) record(typ watch.EventType, pod *v1.Pod) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return
	}
	k := string(owner.UID) + "/" + targetNode(pod)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.events++
	if inv.live[k] == nil {
		inv.live[k] = map[types.UID]bool{}
	}
	if typ == watch.Deleted {
		delete(inv.live[k], pod.UID)
	} else {
		inv.live[k][pod.UID] = true
	}
	if len(inv.live[k]) > 1 {
		inv.doubled[pod.Namespace+"/"+owner.Name+" on "+targetNode(pod)] = true
	}
}

// check fails the test if any node ever held two pods of one owner.
func (inv *podRecord) check(t *testing.T) {
	t.Helper()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var bad []string
	for k := range inv.doubled {
		bad = append(bad, k)
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("a node held two pods of one DaemonSet at once (%d times): %v", len(bad), bad)
	}
	t.Logf("invariant watcher: %d pod events, %d relists after a 410, no node with two pods: %v", inv.events, inv.gaps, len(bad) == 0)
}

// converged reports what keeps ds from being settled: exactly one Running,
// Ready pod of the current template on each of nodes and none elsewhere,
// and a status that says so for the current generation.
func converged(ds *appsv1.DaemonSet, nodes []string, image string) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		cur, err := tb.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		byNode, err := daemonPods(ctx, cur)
		if err != nil {
			return err.Error()
		}
		if msg := placed(byNode, nodes); msg != "" {
			return msg
		}
		for node, pods := range byNode {
			if img := pods[0].Spec.Containers[0].Image; image != "" && img != image {
				return fmt.Sprintf("pod on %s runs %s, want %s", node, img, image)
			}
		}
		n := int32(len(nodes))
		s := cur.Status
		if s.ObservedGeneration != cur.Generation || s.DesiredNumberScheduled != n || s.CurrentNumberScheduled != n ||
			s.NumberReady != n || s.UpdatedNumberScheduled != n || s.NumberAvailable != n || s.NumberMisscheduled != 0 || s.NumberUnavailable != 0 {
			return fmt.Sprintf("status %+v at generation %d, want %d everywhere", s, cur.Generation, n)
		}
		return ""
	}
}

// settle waits for ds to converge and then checks that the controller
// stays quiet: a converged DaemonSet costs no API requests.
func settle(t *testing.T, ds *appsv1.DaemonSet, nodes []string, image string, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%s converged on %d nodes", ds.Name, len(nodes)), converged(ds, nodes, image))
}
