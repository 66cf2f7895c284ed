package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/daemonset-controller/daemonset-controller/pkg/history"
)

const (
	ns    = "default"
	dsKey = ns + "/ds"
)

var start = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// fakeClock is the controller's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a Controller on a fake clientset whose informer stores are
// filled by hand: nothing changes in a store unless the test says so, so
// the test decides exactly when "the informer catches up".
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *fakeClock
	c        *Controller
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	client := fake.NewClientset()
	// The fake API server ignores generateName and never sets UIDs; do
	// what the real one does, so created pods are distinct objects.
	var seq atomic.Int64
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
		if pod.Name == "" && pod.GenerateName != "" {
			pod.Name = fmt.Sprintf("%s%05d", pod.GenerateName, seq.Add(1))
		}
		if pod.UID == "" {
			pod.UID = types.UID("uid-" + pod.Name)
		}
		return false, nil, nil
	})
	f := &fixture{
		t:        t,
		client:   client,
		factory:  informers.NewSharedInformerFactory(client, 0),
		recorder: record.NewFakeRecorder(1000),
		clock:    &fakeClock{now: start},
	}
	if opts.BurstReplicas == 0 {
		opts.BurstReplicas = 250
	}
	opts.Now = f.clock.Now
	c, err := New(client, f.factory, f.recorder, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.c = c
	t.Cleanup(func() {
		c.queue.ShutDown()
		c.nodeQueue.ShutDown()
	})
	return f
}

// indexer returns the cache of obj's kind; what goes in is slimmed, as
// the informers' transform does in main.
func (f *fixture) indexer(obj runtime.Object) cache.Indexer {
	return slimIndexer{f.rawIndexer(obj)}
}

type slimIndexer struct{ cache.Indexer }

func (s slimIndexer) Add(obj interface{}) error    { return s.Indexer.Add(slim(obj)) }
func (s slimIndexer) Update(obj interface{}) error { return s.Indexer.Update(slim(obj)) }

// slim returns a slimmed copy: the caller's object may also be the fake
// API server's.
func slim(obj interface{}) interface{} {
	o, _ := Slim(obj.(runtime.Object).DeepCopyObject())
	return o
}

func (f *fixture) rawIndexer(obj runtime.Object) cache.Indexer {
	switch obj.(type) {
	case *appsv1.DaemonSet:
		return f.factory.Apps().V1().DaemonSets().Informer().GetIndexer()
	case *appsv1.ControllerRevision:
		return f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer()
	case *v1.Pod:
		return f.factory.Core().V1().Pods().Informer().GetIndexer()
	case *v1.Node:
		return f.factory.Core().V1().Nodes().Informer().GetIndexer()
	case *schedulingv1.PriorityClass:
		return f.factory.Scheduling().V1().PriorityClasses().Informer().GetIndexer()
	}
	f.t.Fatalf("no informer for %T", obj)
	return nil
}

// add puts objects both in the fake API server and in the informer cache.
func (f *fixture) add(objs ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objs {
		if err := f.client.Tracker().Add(obj); err != nil {
			f.t.Fatalf("adding %T to the fake client: %v", obj, err)
		}
		if err := f.indexer(obj).Add(obj); err != nil {
			f.t.Fatalf("adding %T to the cache: %v", obj, err)
		}
	}
}

// addAPIOnly puts objects in the fake API server only: the cache lags.
func (f *fixture) addAPIOnly(objs ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objs {
		if err := f.client.Tracker().Add(obj); err != nil {
			f.t.Fatalf("adding %T to the fake client: %v", obj, err)
		}
	}
}

// setPod replaces a pod in the API server and in the cache, calling the
// update handler as the informer would.
func (f *fixture) setPod(pod *v1.Pod) {
	f.t.Helper()
	gvr := v1.SchemeGroupVersion.WithResource("pods")
	if err := f.client.Tracker().Update(gvr, pod, pod.Namespace); err != nil {
		f.t.Fatalf("updating pod: %v", err)
	}
	stored, err := f.client.Tracker().Get(gvr, pod.Namespace, pod.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	f.catchUpPod(stored.(*v1.Pod))
}

func (f *fixture) catchUpPod(pod *v1.Pod) {
	pod = slim(pod).(*v1.Pod)
	idx := f.indexer(pod)
	old, exists, _ := idx.Get(pod)
	if err := idx.Update(pod); err != nil {
		f.t.Fatal(err)
	}
	if exists {
		f.c.updatePod(old, pod)
	} else {
		f.c.addPod(pod)
	}
}

// catchUp makes the caches reflect the API server, calling the pod event
// handlers as an informer would (which is what observes expectations).
func (f *fixture) catchUp() {
	f.t.Helper()
	ctx := context.Background()
	pods, err := f.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		seen[pod.Namespace+"/"+pod.Name] = true
		f.catchUpPod(pod)
	}
	podIdx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	for _, obj := range podIdx.List() {
		pod := obj.(*v1.Pod)
		if !seen[pod.Namespace+"/"+pod.Name] {
			if err := podIdx.Delete(pod); err != nil {
				f.t.Fatal(err)
			}
			f.c.deletePod(pod)
		}
	}
	revs, err := f.client.AppsV1().ControllerRevisions(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range revs.Items {
		if err := f.indexer(&revs.Items[i]).Update(&revs.Items[i]); err != nil {
			f.t.Fatal(err)
		}
	}
	dss, err := f.client.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range dss.Items {
		if err := f.indexer(&dss.Items[i]).Update(&dss.Items[i]); err != nil {
			f.t.Fatal(err)
		}
	}
	f.client.ClearActions()
}

// sync runs one sync; waiting for the cache (errWaiting) is not a failure.
func (f *fixture) sync() error {
	err := f.c.sync(context.Background(), dsKey)
	f.c.tails.Wait() // creations left in flight, as if they had returned
	if !errors.Is(err, errWaiting) {
		return err
	}
	return nil
}

func (f *fixture) mustSync() {
	f.t.Helper()
	if err := f.sync(); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// actions returns the recorded API calls with verb on resource
// (subresource after a slash, e.g. "daemonsets/status").
func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	res, sub, _ := strings.Cut(resource, "/")
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == res && a.GetSubresource() == sub {
			out = append(out, a)
		}
	}
	return out
}

// writes returns the recorded API calls that change something.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		out = append(out, a.GetVerb()+" "+r)
	}
	return out
}

func (f *fixture) createdPods() []*v1.Pod {
	var out []*v1.Pod
	for _, a := range f.actions("create", "pods") {
		out = append(out, a.(k8stesting.CreateAction).GetObject().(*v1.Pod))
	}
	return out
}

func (f *fixture) deletedPods() []string {
	var out []string
	for _, a := range f.actions("delete", "pods") {
		out = append(out, a.(k8stesting.DeleteAction).GetName())
	}
	sort.Strings(out)
	return out
}

// events drains the recorded events.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// eventReasons drains the events and counts them by "type reason".
func (f *fixture) eventReasons() map[string]int {
	out := map[string]int{}
	for _, e := range f.events() {
		parts := strings.SplitN(e, " ", 3)
		out[parts[0]+" "+parts[1]]++
	}
	return out
}

func (f *fixture) apiPod(name string) *v1.Pod {
	f.t.Helper()
	pod, err := f.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("getting pod %s: %v", name, err)
	}
	return pod
}

func (f *fixture) apiDaemonSet() *appsv1.DaemonSet {
	f.t.Helper()
	ds, err := f.client.AppsV1().DaemonSets(ns).Get(context.Background(), "ds", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func (f *fixture) pending() (int, int) { return f.c.expectations.Pending(dsKey) }

// newDaemonSet runs app=agent pods on nodes labelled daemon=yes.
func newDaemonSet(mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "ds", Namespace: ns, UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"},
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: v1.PodSpec{
					Containers:   []v1.Container{{Name: "agent", Image: "agent:1"}},
					NodeSelector: map[string]string{"daemon": "yes"},
				},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
		// In step with the spec, so the failed-pod backoff key (which
		// includes observedGeneration) is stable across syncs.
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

func hashOf(ds *appsv1.DaemonSet) string {
	return history.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
}

func newNode(name string, eligible bool) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if eligible {
		n.Labels = map[string]string{"daemon": "yes"}
	}
	return n
}

type podOpt func(*v1.Pod)

// daemonPod is a running, ready pod of ds bound to node, of the current
// template.
func daemonPod(ds *appsv1.DaemonSet, name, node string, opts ...podOpt) *v1.Pod {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(start.Add(-time.Hour)),
			Labels:            map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hashOf(ds)},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))},
			ResourceVersion:   "1",
		},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "agent", Image: "agent:1"}}},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(start.Add(-time.Hour))}},
		},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func orphan(p *v1.Pod) { p.OwnerReferences = nil }

func withLabels(kv ...string) podOpt {
	return func(p *v1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inPhase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }

func notReady(p *v1.Pod) { p.Status.Conditions = nil }

func readyAt(t time.Time) podOpt {
	return func(p *v1.Pod) {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}

func unbound(p *v1.Pod) {
	node := p.Spec.NodeName
	p.Spec.NodeName = ""
	p.Spec.Affinity = bindToNode(nil, node)
}
