package controller

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	k8stesting "k8s.io/client-go/testing"
)

// TestSyncDoesNotWaitForItsStatusWrite: a sync returns while its status
// write is in flight. The writes asked for meanwhile are made after it, one
// at a time: the latest only, and not if it says what the write in flight
// said.
func TestSyncDoesNotWaitForItsStatusWrite(t *testing.T) {
	for _, tt := range []struct {
		name      string
		lastReady bool
		want      []int32 // numberReady of each write
	}{
		{"the last asks for a new status", true, []int32{0, 1}},
		{"the last asks for the status in flight", false, []int32{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			ds := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.ResourceVersion = "10" })
			f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1", notReady))
			// Each write gets a new resourceVersion, as on a real API server.
			rv := 10
			f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				obj := a.(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet)
				rv++
				obj.ResourceVersion = strconv.Itoa(rv)
				return false, nil, nil
			})
			release := make(chan struct{})
			var inFlight, most atomic.Int32
			f.c.client = hangingStatus{Interface: f.c.client, hang: func() {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
			}}
			syncWithin := func(what string) {
				t.Helper()
				returned := make(chan error, 1)
				go func() { returned <- f.c.sync(context.Background(), dsKey) }()
				select {
				case err := <-returned:
					if err != nil && !errors.Is(err, errWaiting) {
						t.Fatalf("%s: %v", what, err)
					}
				case <-time.After(10 * time.Second):
					close(release)
					t.Fatalf("%s waited for the status write", what)
				}
			}
			syncWithin("the first sync") // writes 0 ready
			f.setPod(daemonPod(ds, "p1", "n1"))
			syncWithin("a sync while the write is in flight") // asks for 1 ready
			syncWithin("another")                             // the same: replaces it
			if tt.lastReady {
				f.setPod(daemonPod(ds, "p1", "n1", notReady))
				syncWithin("a sync back at the first write's counts") // asks for 0 ready
				f.setPod(daemonPod(ds, "p1", "n1"))
			} else {
				f.setPod(daemonPod(ds, "p1", "n1", notReady))
			}
			syncWithin("the last sync")
			close(release)
			f.c.tails.Wait()

			var ready []int32
			for _, a := range f.actions("update", "daemonsets/status") {
				ready = append(ready, a.(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status.NumberReady)
			}
			if !reflect.DeepEqual(ready, tt.want) {
				t.Errorf("status writes with numberReady %v, want %v", ready, tt.want)
			}
			if n := most.Load(); n != 1 {
				t.Errorf("%d status writes in flight at once, want 1", n)
			}
			// Written: a sync that finds the same counts writes nothing.
			f.catchUp()
			f.mustSync()
			if n := len(f.actions("update", "daemonsets/status")); n != 0 {
				t.Errorf("%d status writes of what was just written", n)
			}
		})
	}
}

// TestStatusWriteFailureFailsTheNextSync: a status write that fails in the
// background requeues its DaemonSet with backoff, and its next sync
// reports the failure.
func TestStatusWriteFailureFailsTheNextSync(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1"))
	f.client.PrependReactor("update", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return a.GetSubresource() == "status", nil, errors.New("etcd timeout")
	})
	if err := f.sync(); err == nil || !strings.Contains(err.Error(), "etcd timeout") {
		t.Errorf("sync = %v, want the failed write's error", err)
	}
	if n := f.c.queue.NumRequeues(dsKey); n != 1 {
		t.Errorf("%d rate-limited requeues, want 1", n)
	}
}

// TestBackgroundFailureKeepsTheBackoff: creations that fail after their
// sync has ended fail the next sync, so the workqueue's backoff grows as
// for failed syncs instead of being reset by each sync that itself ends
// well (a creation the API server keeps failing would otherwise be retried
// every few milliseconds).
func TestBackgroundFailureKeepsTheBackoff(t *testing.T) {
	f := newFixture(t, Options{})
	f.add(newDaemonSet(), newNode("n1", true))
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("webhook down")) // not a refusal: no creation backoff
	})
	release := make(chan struct{})
	var calls atomic.Int32
	f.c.client = hangingCreates{Interface: f.c.client, hang: func(context.Context) {
		if calls.Add(1) == 1 {
			<-release // the first creation fails only once its sync has ended
		}
	}}
	ctx := context.Background()
	f.c.queue.Add(dsKey)
	f.c.processNext(ctx)
	close(release)
	f.c.tails.Wait()
	f.c.processNext(ctx) // fails: the first sync's creation failed
	f.c.tails.Wait()
	if n := f.c.queue.NumRequeues(dsKey); n < 2 {
		t.Errorf("%d requeues counted after two failed rounds, want at least 2 (the backoff was reset)", n)
	}
	if n := testutil.ToFloat64(f.c.metrics.Syncs.WithLabelValues("error")); n != 1 {
		t.Errorf("syncs_total{result=error} = %v, want 1", n)
	}
}

// hangingStatus calls hang before each status write.
type hangingStatus struct {
	kubernetes.Interface
	hang func()
}

func (h hangingStatus) AppsV1() typedappsv1.AppsV1Interface {
	return hangingApps{h.Interface.AppsV1(), h.hang}
}

type hangingApps struct {
	typedappsv1.AppsV1Interface
	hang func()
}

func (h hangingApps) DaemonSets(namespace string) typedappsv1.DaemonSetInterface {
	return hangingDaemonSets{h.AppsV1Interface.DaemonSets(namespace), h.hang}
}

type hangingDaemonSets struct {
	typedappsv1.DaemonSetInterface
	hang func()
}

func (h hangingDaemonSets) UpdateStatus(ctx context.Context, ds *appsv1.DaemonSet, opts metav1.UpdateOptions) (*appsv1.DaemonSet, error) {
	h.hang()
	return h.DaemonSetInterface.UpdateStatus(ctx, ds, opts)
}
