package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// TestNodeNeedingAPodRenewsTheSync: a sync waiting for its creation's
// answer gives its worker up when a node that needs the DaemonSet's pod
// joins, and leaves the creation in flight and the status to the next
// sync. That sync creates on the new node at once, and when the first
// creation returns no node has two pods.
func TestNodeNeedingAPodRenewsTheSync(t *testing.T) {
	f := newFixture(t, Options{})
	f.add(newDaemonSet(), newNode("n0", true))
	f.mustSync()
	f.catchUp()
	f.add(newNode("n1", true))
	hung, free := hangFirstCreation(f)
	defer func() { free(); f.c.tails.Wait() }()
	if err := syncRenewedWhile(t, f, hung, "its creation on n1"); err != nil {
		t.Fatalf("renewed sync: %v", err)
	}
	if n := len(f.actions("update", "daemonsets/status")); n != 0 {
		t.Errorf("the renewed sync wrote the status %d times; that is the next sync's", n)
	}
	checkQueue(t, "after the renewal", f.c.queue, dsKey)

	if err := f.c.sync(context.Background(), dsKey); err != nil && !errors.Is(err, errWaiting) {
		t.Fatalf("next sync: %v", err)
	}
	pods := f.createdPods()
	if len(pods) != 1 || plan.TargetNode(pods[0]) != "n2" {
		t.Fatalf("the next sync created %d pods, want 1 on n2 while n1's is in flight", len(pods))
	}
	free()
	f.c.tails.Wait()
	nodes := map[string]int{}
	for _, pod := range f.createdPods() {
		nodes[plan.TargetNode(pod)]++
	}
	if nodes["n1"] != 1 || nodes["n2"] != 1 || len(nodes) != 2 {
		t.Errorf("pods created per node %v since n0's, want one on each of n1 and n2", nodes)
	}
}

// TestSyncResumesAfterAnyCreatingSync: a sync soon after one that created
// pods starts its creations at the window that one opened, not at 1: the
// template is proven. A new template starts from 1 again.
func TestSyncResumesAfterAnyCreatingSync(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n0", true))
	f.mustSync()
	f.catchUp()
	for i := range 20 {
		f.add(newNode(fmt.Sprintf("n%d", i+1), true))
	}
	// Every creation now fails, so the calls made show how many started at once.
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("etcd timeout"))
	})
	f.client.ClearActions()
	_ = f.sync()
	if n := len(f.actions("create", "pods")); n != resumeMaxBatch {
		t.Errorf("%d creations started at once after a successful sync, want %d", n, resumeMaxBatch)
	}

	f.c.resume.Store(dsKey, resumeAt{uid: ds.UID, hash: "an-older-template", batch: provenWindow, at: f.clock.Now()})
	f.client.ClearActions()
	_ = f.sync()
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d creations started at once for a template not yet proven, want 1", n)
	}
}

// TestFinishCreationsRaisesTheResume: a sync that left before its first
// answer left a window of 1; its successes, in the background, raise the
// window of the same template, however many syncs have left since.
func TestFinishCreationsRaisesTheResume(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	finish := func(newer *resumeAt) {
		t.Helper()
		cs := &creations{results: make(chan error, 1), release: func() {}, began: f.clock.Now(), inFlight: 1}
		cs.resume = resumeAt{uid: ds.UID, hash: "h", batch: 1, at: f.clock.Now()}
		f.c.resume.Store(dsKey, cs.resume)
		if newer != nil {
			f.c.resume.Store(dsKey, *newer)
		}
		cs.results <- nil
		if err := f.c.finishCreations(ds, cs); err != nil {
			t.Fatal(err)
		}
	}
	finish(nil)
	if got := f.c.takeResume(ds, "h"); got != resumeMaxBatch {
		t.Errorf("resume %d after the left creation succeeded, want %d", got, resumeMaxBatch)
	}
	// A newer sync, also left before any answer, is raised too: the
	// template is proven.
	finish(&resumeAt{uid: ds.UID, hash: "h", batch: 2, at: f.clock.Now().Add(time.Second)})
	if got := f.c.takeResume(ds, "h"); got != resumeMaxBatch {
		t.Errorf("resume %d of a newer sync of the same template, want %d", got, resumeMaxBatch)
	}
	// One of a new template is not: that template is not proven.
	finish(&resumeAt{uid: ds.UID, hash: "h2", batch: 1, at: f.clock.Now()})
	if got := f.c.takeResume(ds, "h2"); got != 1 {
		t.Errorf("resume %d of a new template, want 1", got)
	}
}

// TestRenewalOnlyForANodeStillWaiting: a node whose pod the DaemonSet's
// sync is already creating (a label or taint update of a new node) does
// not renew that sync; a node with no pod on the way does.
func TestRenewalOnlyForANodeStillWaiting(t *testing.T) {
	f := newFixture(t, Options{})
	f.add(newDaemonSet(), newNode("n1", true), newNode("n2", true))
	r := f.c.beginRenewal(dsKey)
	defer f.c.endRenewal(dsKey, r)
	f.c.expectations.Expect(dsKey, []string{"n1"}, nil)
	if err := f.c.syncNode("n1"); err != nil {
		t.Fatal(err)
	}
	if r.done() {
		t.Error("a node whose pod is being created renewed the sync")
	}
	if err := f.c.syncNode("n2"); err != nil {
		t.Fatal(err)
	}
	if !r.done() {
		t.Error("a node that needs a pod did not renew the sync")
	}
}

// TestCreationsWaitTakesAnAnswerFirst: an answer already in is taken
// before a renewal, so that a failure is never hidden by one.
func TestCreationsWaitTakesAnAnswerFirst(t *testing.T) {
	renewed := make(chan struct{})
	close(renewed)
	for range 100 { // select alone would choose at random
		cs := &creations{results: make(chan error, 1), inFlight: 1}
		cs.results <- errQuota
		if got := cs.wait(renewed, nil); got != "slow_start" {
			t.Fatalf("wait = %q with a failure in and a renewal, want slow_start", got)
		}
	}
	cs := &creations{results: make(chan error, 1), inFlight: 1}
	if got := cs.wait(renewed, nil); got != "renewed" {
		t.Errorf("wait = %q with no answer in and a renewal, want renewed", got)
	}
}

// TestHoldStatus: renewals hold a status back only with the spec
// observed, and for at most maxStatusHold from the first hold; a status
// write ends the hold.
func TestHoldStatus(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true))
	if spec := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation = 2 }); f.c.holdStatus(spec) {
		t.Error("held back the status of a generation not yet observed")
	}
	if !f.c.holdStatus(ds) {
		t.Error("did not hold the status back at first")
	}
	f.clock.Advance(maxStatusHold - time.Second)
	if !f.c.holdStatus(ds) {
		t.Error("did not hold the status back within maxStatusHold")
	}
	f.clock.Advance(time.Second)
	if f.c.holdStatus(ds) {
		t.Errorf("held the status back for %v", maxStatusHold)
	}
	f.mustSync() // writes the status
	if n := len(f.actions("update", "daemonsets/status")); n != 1 {
		t.Fatalf("%d status writes, want 1", n)
	}
	if !f.c.holdStatus(ds) {
		t.Error("a status write did not end the hold")
	}
}

// TestFailedCreationsDropARaisedResume: a sync whose window an older
// sync's success raised, and whose own creation is then refused, leaves
// the next sync to start from one.
func TestFailedCreationsDropARaisedResume(t *testing.T) {
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	cs := &creations{results: make(chan error, 1), release: func() {}, began: f.clock.Now(), inFlight: 1}
	cs.resume = resumeAt{uid: ds.UID, hash: "h", batch: 1, at: f.clock.Now()}
	f.c.resume.Store(dsKey, cs.resume)
	f.c.raiseResume(ds, "h") // an older sync's creation succeeded
	cs.results <- errQuota
	_ = f.c.finishCreations(ds, cs)
	if got := f.c.takeResume(ds, "h"); got != 1 {
		t.Errorf("resume %d after the sync's own creation failed, want 1", got)
	}
}

// hangFirstCreation makes the fixture's first pod creation hang, outside
// the fake clientset's lock, until free is called (any number of times);
// hung is closed when it begins. Later creations return at once.
func hangFirstCreation(f *fixture) (hung <-chan struct{}, free func()) {
	began, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	f.c.client = hangingCreates{Interface: f.c.client, hang: func(ctx context.Context) {
		if calls.Add(1) == 1 {
			close(began)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}}
	var once sync.Once
	return began, func() { once.Do(func() { close(release) }) }
}

// TestRenewalEndsAStatusWrite: a node that needs the DaemonSet's pod
// while the sync's status write waits for the API server ends the write.
// The sync returns with no error, the next one is queued, and the hold
// goes on, counted from when it began.
func TestRenewalEndsAStatusWrite(t *testing.T) {
	f := newFixture(t, Options{})
	f.add(newDaemonSet(), newNode("n0", true))
	f.mustSync()
	f.catchUp()
	f.add(newNode("n1", true))
	f.c.statusHeld.Store(dsKey, f.clock.Now().Add(-time.Second))
	began, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	var once sync.Once
	f.c.client = hangingStatus{Interface: f.c.client, hang: func(ctx context.Context) {
		once.Do(func() { close(began) })
		select {
		case <-ctx.Done():
		case <-release:
		}
	}}
	if err := syncRenewedWhile(t, f, began, "its status write"); err != nil {
		t.Fatalf("renewed sync: %v", err)
	}
	checkQueue(t, "after the renewal", f.c.queue, dsKey)
	if v, held := f.c.statusHeld.Load(dsKey); !held || !v.(time.Time).Equal(f.clock.Now().Add(-time.Second)) {
		t.Errorf("hold after the renewal: %v (%v), want it to go on from a second ago", v, held)
	}
}

// TestRenewalKeepsANewGenerationsStatusWrite: the write of a generation
// not yet observed is not given up for a renewal: rollout status waits on
// it.
func TestRenewalKeepsANewGenerationsStatusWrite(t *testing.T) {
	f := newFixture(t, Options{})
	spec := newDaemonSet(func(ds *appsv1.DaemonSet) { ds.Generation, ds.Status.ObservedGeneration = 2, 1 })
	f.add(spec, newNode("n1", true))
	writing := make(chan context.Context, 1)
	release := make(chan struct{})
	var once sync.Once
	f.c.client = hangingStatus{Interface: f.c.client, hang: func(ctx context.Context) {
		once.Do(func() { writing <- ctx })
		select {
		case <-ctx.Done():
		case <-release:
		}
	}}
	returned := make(chan error, 1)
	go func() { returned <- f.c.sync(context.Background(), dsKey) }()
	var ctx context.Context
	select {
	case ctx = <-writing:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync wrote no status")
	}

	f.add(newNode("n2", true))
	if err := f.c.syncNode("n2"); err != nil {
		t.Fatal(err)
	}
	select { // a cancellation follows the renewal at once, if it comes
	case <-ctx.Done():
		t.Fatal("the renewal ended the write of generation 2")
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatalf("sync: %v", err)
	}
	writes := f.actions("update", "daemonsets/status")
	if len(writes) != 1 {
		t.Fatalf("%d status writes, want 1", len(writes))
	}
	if got := writes[0].(k8stesting.UpdateAction).GetObject().(*appsv1.DaemonSet).Status.ObservedGeneration; got != 2 {
		t.Errorf("observedGeneration written: %d, want 2", got)
	}
}

// TestRenewalBeforeTheStatusWriteSkipsIt: a sync renewed before its
// status write sends none, and the hold goes on; one not renewed writes.
func TestRenewalBeforeTheStatusWriteSkipsIt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	ds := newDaemonSet()
	f.add(ds, newNode("n1", true), daemonPod(ds, "p1", "n1"))
	heldSince := f.clock.Now().Add(-time.Second)
	f.c.statusHeld.Store(dsKey, heldSince)
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := f.c.observe(ctx, ds, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, renewed := range []bool{true, false} {
		f.client.ClearActions()
		r := f.c.beginRenewal(dsKey)
		if renewed {
			f.c.renew(dsKey)
		}
		err := f.c.writeStatusUnlessRenewed(ctx, ds, obs.input, false, r)
		f.c.endRenewal(dsKey, r)
		if err != nil {
			t.Fatalf("renewed %v: %v", renewed, err)
		}
		writes := len(f.actions("update", "daemonsets/status"))
		v, held := f.c.statusHeld.Load(dsKey)
		switch {
		case renewed && (writes != 0 || !held || !v.(time.Time).Equal(heldSince)):
			t.Errorf("renewed before the write: %d status writes, hold %v (%v); want none, and the hold to go on", writes, v, held)
		case !renewed && (writes != 1 || held):
			t.Errorf("not renewed: %d status writes, hold %v (%v); want 1, and no hold", writes, v, held)
		}
	}
}

// syncRenewedWhile runs a sync of dsKey and, once it waits for what
// (hung is closed), has node n2 join, which renews it; it returns the
// sync's result.
func syncRenewedWhile(t *testing.T, f *fixture, hung <-chan struct{}, what string) error {
	t.Helper()
	returned := make(chan error, 1)
	go func() { returned <- f.c.sync(context.Background(), dsKey) }()
	select {
	case <-hung:
	case <-time.After(10 * time.Second):
		t.Fatalf("the sync never waited for %s", what)
	}
	f.add(newNode("n2", true))
	if err := f.c.syncNode("n2"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-returned:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("the sync still waits for %s after n2 joined", what)
		return nil
	}
}

// hangingStatus calls hang before each DaemonSet status write, and fails
// the write if its context ended meanwhile, as a canceled request does.
type hangingStatus struct {
	kubernetes.Interface
	hang func(context.Context)
}

func (h hangingStatus) AppsV1() typedappsv1.AppsV1Interface {
	return hangingApps{h.Interface.AppsV1(), h.hang}
}

type hangingApps struct {
	typedappsv1.AppsV1Interface
	hang func(context.Context)
}

func (h hangingApps) DaemonSets(namespace string) typedappsv1.DaemonSetInterface {
	return hangingDaemonSets{h.AppsV1Interface.DaemonSets(namespace), h.hang}
}

type hangingDaemonSets struct {
	typedappsv1.DaemonSetInterface
	hang func(context.Context)
}

func (h hangingDaemonSets) UpdateStatus(ctx context.Context, ds *appsv1.DaemonSet, opts metav1.UpdateOptions) (*appsv1.DaemonSet, error) {
	h.hang(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	return h.DaemonSetInterface.UpdateStatus(ctx, ds, opts)
}
