// Package controller runs DaemonSets: shared informers feed a rate-limited
// workqueue of DaemonSet keys, and workers sync each key by observing the
// caches, planning with pure functions and acting through the API.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/expectations"
	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
	"github.com/daemonset-controller/daemonset-controller/pkg/priorityqueue"
)

// Options tune a Controller.
type Options struct {
	// BurstReplicas caps the pods created, and the pods deleted, in one sync.
	BurstReplicas int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics receives the controller's metrics; nil keeps them private.
	Metrics *metrics.Metrics
	// Shadow computes every plan but writes nothing to the API server.
	Shadow bool
	// StatusInterval is the least time between two status writes of one
	// DaemonSet that only report progress; 0 writes every change at once.
	StatusInterval time.Duration
	// ClientBusy reports whether the controller's client is at its rate
	// limit; nil means never. While it is, a status write that only
	// reports progress waits at least busyStatusInterval (see statusWait).
	ClientBusy func() bool
	// Gate is held by the syncs' pod creations while they are under way
	// (see prioritylimit.Gate); nil gives the controller one of its own.
	// Sharing it lets other writers, such as events, wait for them.
	Gate *prioritylimit.Gate
}

// Controller manages the pods of every apps/v1 DaemonSet in the cluster.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	opts     Options

	dsLister   appslisters.DaemonSetLister
	revLister  appslisters.ControllerRevisionLister
	nodeLister corelisters.NodeLister
	pcLister   schedulinglisters.PriorityClassLister
	pods       cache.Indexer
	revs       cache.Indexer
	informers  []*informerState // for readiness: synced, or why not

	// queue holds DaemonSet keys; nodeQueue holds node names whose change
	// may affect some DaemonSets, resolved to DaemonSet keys by a worker so
	// that event handlers stay cheap.
	queue workqueue.TypedRateLimitingInterface[string]
	// waiting tells a sync whether a more urgent DaemonSet waits for a worker.
	waiting *priorityqueue.Queue[string]
	// gate holds a sync's creations back while a more urgent DaemonSet's
	// are under way.
	gate      *prioritylimit.Gate
	nodeQueue workqueue.TypedRateLimitingInterface[string]
	// tails are creations a sync left in flight for the next one to
	// continue beside (see createPods).
	tails sync.WaitGroup

	expectations *expectations.Store
	metrics      *metrics.Metrics
	shadow       *shadowPlans // nil unless Options.Shadow

	// failedBackoff spaces out the deletion of Failed pods per node.
	failedBackoff *backoff
	// createBackoff spaces out pod creations per DaemonSet after the API
	// server refused one (quota, admission), however many events come.
	createBackoff *backoff
	// inflight maps the keys being synced to when their sync started.
	inflight sync.Map
	// statusWritten maps a DaemonSet key to the status last written for it.
	statusWritten sync.Map
	// yielded holds the keys whose sync gave its worker up (see createPods).
	yielded sync.Map
	// renewals maps the key of each running sync to its renewal.
	renewals sync.Map
	// statusHeld maps a DaemonSet key to when renewals began holding its
	// status back (see holdStatus).
	statusHeld sync.Map
	// resume holds, for a DaemonSet that created pods lately, the
	// slow-start window its next creating sync starts with, if that comes
	// soon (see takeResume).
	resume sync.Map
	// patches maps a DaemonSet key to its template's revision data, for
	// the generation it was encoded at (see revisionData).
	patches sync.Map
	// failedBehind maps a key to the failure of creations a sync of it
	// left to finish in the background (see failedInBackground).
	failedBehind sync.Map
}

// Index names on the pod and revision informers.
const (
	byNode  = "daemonset-controller/node"
	byOwner = "daemonset-controller/owner"
)

// Pending reports the creations and deletions in flight, for metrics.
func (c *Controller) Pending() (creations, deletions int) { return c.expectations.Total() }

// New wires a Controller to the informers of factory. The factory must be
// started by the caller after New returns.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts Options) (*Controller, error) {
	if opts.BurstReplicas < 1 {
		return nil, fmt.Errorf("burst replicas must be at least 1, got %d", opts.BurstReplicas)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	exp := expectations.New(expectations.DefaultTTL, opts.Now)
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(nil)
	}
	dsInf := factory.Apps().V1().DaemonSets()
	pcInf := factory.Scheduling().V1().PriorityClasses()
	revInf := factory.Apps().V1().ControllerRevisions()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()

	c := &Controller{
		client:     client,
		recorder:   recorder,
		opts:       opts,
		dsLister:   dsInf.Lister(),
		revLister:  revInf.Lister(),
		nodeLister: nodeInf.Lister(),
		pods:       podInf.Informer().GetIndexer(),
		revs:       revInf.Informer().GetIndexer(),
		pcLister:   pcInf.Lister(),
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset_node"}),
		expectations:  exp,
		metrics:       opts.Metrics,
		failedBackoff: newBackoff(time.Second, 15*time.Minute),
		createBackoff: newBackoff(time.Second, 5*time.Minute),
	}
	if opts.Shadow {
		c.shadow = newShadowPlans(opts.Metrics)
	}
	// DaemonSets are served in order of their pods' priority, so that a new
	// node gets its CNI and storage daemons before the rest.
	c.waiting = priorityqueue.New(c.priority)
	c.gate = opts.Gate
	if c.gate == nil {
		c.gate = prioritylimit.NewGate()
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{
			Name: "daemonset",
			DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
				Name: "daemonset",
				Queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{
					Name: "daemonset", Queue: c.waiting,
				}),
			}),
		})
	if err := podInf.Informer().AddIndexers(cache.Indexers{byNode: podNodeIndex, byOwner: ownerIndex}); err != nil {
		return nil, err
	}
	if err := revInf.Informer().AddIndexers(cache.Indexers{byOwner: ownerIndex}); err != nil {
		return nil, err
	}
	handlers := []struct {
		name string
		inf  cache.SharedIndexInformer
		h    cache.ResourceEventHandler
	}{
		{"daemonsets", dsInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.enqueue, UpdateFunc: func(_, o interface{}) { c.enqueue(o) }, DeleteFunc: c.deleteDaemonSet}},
		{"pods", podInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{"nodes", nodeInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addNode, UpdateFunc: c.updateNode, DeleteFunc: c.deleteNode}},
		{"priorityclasses", pcInf.Informer(), cache.ResourceEventHandlerFuncs{}},
		{"controllerrevisions", revInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.changedRevision, UpdateFunc: func(o, n interface{}) { c.changedRevision(o); c.changedRevision(n) }, DeleteFunc: c.changedRevision}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, err
		}
		if err := c.track(x.name, x.inf); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// drainTimeout bounds how long a stopping controller lets in-flight syncs
// finish before cancelling them.
const drainTimeout = 20 * time.Second

// Run starts workers and blocks until ctx is done. It waits for the caches
// first, so a restarted controller sees every pod it made before. When ctx
// ends it takes no new work and lets in-flight syncs finish (at most
// drainTimeout), so it never stops halfway through a batch it could finish.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer c.queue.ShutDown()
	defer c.nodeQueue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Waiting for informer caches to sync")
	if !c.waitForCaches(ctx, cacheSyncReport) {
		return fmt.Errorf("informer caches did not sync: %w", context.Cause(ctx))
	}
	logger.Info("Starting workers", "workers", workers)
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Go(func() { c.worker(workCtx) })
	}
	wg.Go(func() { c.nodeWorker(workCtx) })
	go wait.UntilWithContext(ctx, c.gcBackoff, time.Minute)
	<-ctx.Done()
	logger.Info("Stopping: finishing in-flight syncs")
	c.queue.ShutDown()
	c.nodeQueue.ShutDown()
	done := make(chan struct{})
	go func() { wg.Wait(); c.tails.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		logger.Info("In-flight syncs did not finish in time, cancelling them", "timeout", drainTimeout)
		cancelWork()
		<-done
	}
	logger.Info("Stopped workers")
	return nil
}

// HasSynced reports whether every informer cache has synced.
func (c *Controller) HasSynced() bool { return c.CacheSyncError() == nil }

// stuckAfter is how long one sync may run before the controller reports
// itself unhealthy: a sync is a few API calls, so this means a hung worker.
const stuckAfter = 10 * time.Minute

// Healthy reports an error if a sync has been running for too long.
func (c *Controller) Healthy() error {
	var err error
	now := time.Now()
	c.inflight.Range(func(k, v any) bool {
		if d := now.Sub(v.(time.Time)); d > stuckAfter {
			err = fmt.Errorf("sync of %v has been running for %v", k, d.Round(time.Second))
			return false
		}
		return true
	})
	return err
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	start := time.Now()
	c.inflight.Store(key, start)
	defer c.inflight.Delete(key)
	// The sync's API requests wait for the client's rate limiter in order of
	// the DaemonSet's priority, as its key waited in the queue.
	syncCtx := prioritylimit.WithPriority(ctx, c.priority(key))
	err := c.sync(klog.NewContext(syncCtx, klog.FromContext(ctx).WithValues("daemonset", key)), key)
	if behind, ok := c.failedBehind.LoadAndDelete(key); ok && (err == nil || errors.Is(err, errWaiting)) {
		err = behind.(error) // an earlier sync's, finished in the background
	}
	result := metrics.ResultSuccess
	switch {
	case errors.Is(err, errWaiting):
		result = metrics.ResultRequeue
		c.queue.Forget(key)
	case err != nil:
		result = metrics.ResultError
		klog.FromContext(ctx).Error(err, "Sync failed, will retry", "daemonset", key)
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
	}
	c.metrics.SyncDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	c.metrics.Syncs.WithLabelValues(result).Inc()
	return true
}

// failedInBackground records that creations a sync of k left to finish
// in the background failed, and requeues k with backoff. The next sync of
// k reports the failure as its own (an error in syncs_total, the log and
// the workqueue's growing backoff): that sync, ending well itself, would
// otherwise reset the backoff (Forget), so that creations the API server
// kept failing with a 500 would be retried every few milliseconds. A
// failure that comes just after the next sync has ended is reported by the
// one after it, with at most one retry at the reset backoff between.
func (c *Controller) failedInBackground(ctx context.Context, k string, err error) {
	klog.FromContext(ctx).V(2).Info("Creations left in flight failed, the next sync reports it", "err", err)
	c.failedBehind.Store(k, err)
	c.queue.AddRateLimited(k)
}

// errWaiting ends a sync that must wait for the informer to report the
// controller's own writes. It is not a failure: the events that satisfy the
// expectations enqueue the DaemonSet again, and so does their expiry.
var errWaiting = errors.New("waiting for the cache to catch up")

func (c *Controller) nodeWorker(ctx context.Context) {
	for {
		name, quit := c.nodeQueue.Get()
		if quit {
			return
		}
		if err := c.syncNode(name); err != nil {
			klog.FromContext(ctx).Error(err, "Node sync failed, will retry", "node", name)
			c.nodeQueue.AddRateLimited(name)
		} else {
			c.nodeQueue.Forget(name)
		}
		c.nodeQueue.Done(name)
	}
}

func (c *Controller) gcBackoff(context.Context) {
	c.failedBackoff.gc(c.opts.Now())
	c.createBackoff.gc(c.opts.Now())
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// deleteDaemonSet forgets what was expected of a deleted DaemonSet, as
// upstream does: a new one of the same name, created before the next sync
// of the key, would otherwise wait for the old one's pods (up to the
// expectations' TTL).
func (c *Controller) deleteDaemonSet(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.Forget(key)
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(ds *appsv1.DaemonSet, d time.Duration) {
	c.queue.AddAfter(key(ds), d)
}

func key(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

// Priorities of the built-in classes, for a cache that has not seen them.
var builtinPriority = map[string]int64{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

// priority is the priority of the pods a DaemonSet key creates: the
// template's priority, else its PriorityClass's value. Unknown is 0.
func (c *Controller) priority(k string) int64 {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return 0
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if err != nil {
		return 0
	}
	spec := &ds.Spec.Template.Spec
	if spec.Priority != nil {
		return int64(*spec.Priority)
	}
	if spec.PriorityClassName == "" {
		return 0
	}
	if pc, err := c.pcLister.Get(spec.PriorityClassName); err == nil {
		return int64(pc.Value)
	}
	return builtinPriority[spec.PriorityClassName]
}

// podNodeIndex indexes a pod under the node it is for, bound or not.
func podNodeIndex(obj interface{}) ([]string, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, nil
	}
	if n := plan.TargetNode(pod); n != "" {
		return []string{n}, nil
	}
	return nil, nil
}

// ownerIndex indexes an object under its controller's UID, or under
// orphanKey(namespace) when it has no controller, so a sync reads only the
// objects it owns or may adopt.
func ownerIndex(obj interface{}) ([]string, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(m.GetNamespace())}, nil
}

func orphanKey(namespace string) string { return "orphan/" + namespace }

func metaOf(obj interface{}) (metav1.Object, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return m, nil
}

// Slim is the informers' transform. It drops what the controller never
// reads, which is most of each cached pod and node: managedFields
// everywhere, a pod's containers, volumes and container statuses, a node's
// images, capacity, addresses and system info. What is kept is what the
// handlers, placement, the plan and the rollout read: a pod's metadata,
// node name, affinity (its target node), phase and conditions; a node's
// metadata, taints and conditions. The controller's unit tests run on
// slimmed caches, so a field read but dropped shows there.
//
// Over protobuf, pkg/wiretrim has already left the same fields out before
// decoding (its tests check that the two agree); Slim still applies for
// JSON, and costs next to nothing on an object already trimmed.
func Slim(obj interface{}) (interface{}, error) {
	switch o := obj.(type) {
	case *v1.Pod:
		o.ManagedFields = nil
		o.Spec = v1.PodSpec{NodeName: o.Spec.NodeName, Affinity: o.Spec.Affinity}
		o.Status = v1.PodStatus{Phase: o.Status.Phase, Conditions: o.Status.Conditions}
	case *v1.Node:
		o.ManagedFields = nil
		o.Spec = v1.NodeSpec{Taints: o.Spec.Taints}
		o.Status = v1.NodeStatus{Conditions: o.Status.Conditions}
	case metav1.Object:
		o.SetManagedFields(nil)
	}
	return obj, nil
}
