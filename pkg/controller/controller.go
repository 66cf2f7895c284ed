// Package controller runs DaemonSets: shared informers feed a rate-limited
// workqueue of DaemonSet keys, and workers sync each key by observing the
// caches, planning with pure functions and acting through the API.
package controller

import (
	"context"
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
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/expectations"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// Options tune a Controller.
type Options struct {
	// BurstReplicas caps the pods created, and the pods deleted, in one sync.
	BurstReplicas int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Controller manages the pods of every apps/v1 DaemonSet in the cluster.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	opts     Options

	dsLister   appslisters.DaemonSetLister
	revLister  appslisters.ControllerRevisionLister
	nodeLister corelisters.NodeLister
	pods       cache.Indexer
	revs       cache.Indexer
	synced     []cache.InformerSynced

	// queue holds DaemonSet keys; nodeQueue holds node names whose change
	// may affect some DaemonSets, resolved to DaemonSet keys by a worker so
	// that event handlers stay cheap.
	queue     workqueue.TypedRateLimitingInterface[string]
	nodeQueue workqueue.TypedRateLimitingInterface[string]

	expectations *expectations.Store

	// failedBackoff spaces out the deletion of Failed pods per node.
	failedBackoff *backoff
}

// Index names on the pod and revision informers.
const (
	byNode  = "daemonset-controller/node"
	byOwner = "daemonset-controller/owner"
)

// New wires a Controller to the informers of factory. The factory must be
// started by the caller after New returns.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, opts Options) (*Controller, error) {
	if opts.BurstReplicas < 1 {
		return nil, fmt.Errorf("burst replicas must be at least 1, got %d", opts.BurstReplicas)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dsInf := factory.Apps().V1().DaemonSets()
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
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset_node"}),
		expectations:  expectations.New(expectations.DefaultTTL, opts.Now),
		failedBackoff: newBackoff(time.Second, 15*time.Minute),
	}
	if err := podInf.Informer().AddIndexers(cache.Indexers{byNode: podNodeIndex, byOwner: ownerIndex}); err != nil {
		return nil, err
	}
	if err := revInf.Informer().AddIndexers(cache.Indexers{byOwner: ownerIndex}); err != nil {
		return nil, err
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dsInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.enqueue, UpdateFunc: func(_, o interface{}) { c.enqueue(o) }, DeleteFunc: c.enqueue}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addNode, UpdateFunc: c.updateNode, DeleteFunc: c.deleteNode}},
		{revInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.changedRevision, UpdateFunc: func(o, n interface{}) { c.changedRevision(o); c.changedRevision(n) }, DeleteFunc: c.changedRevision}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, err
		}
		c.synced = append(c.synced, x.inf.HasSynced)
	}
	return c, nil
}

// Run starts workers and blocks until ctx is done. It waits for the caches
// first, so a restarted controller sees every pod it made before.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer c.queue.ShutDown()
	defer c.nodeQueue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Waiting for informer caches to sync")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("informer caches did not sync: %w", context.Cause(ctx))
	}
	logger.Info("Starting workers", "workers", workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, c.worker, time.Second) })
	}
	wg.Go(func() { wait.UntilWithContext(ctx, c.nodeWorker, time.Second) })
	wg.Go(func() { wait.UntilWithContext(ctx, c.gcBackoff, time.Minute) })
	<-ctx.Done()
	c.queue.ShutDown()
	c.nodeQueue.ShutDown()
	wg.Wait()
	logger.Info("Stopped workers")
	return nil
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
	err := c.sync(klog.NewContext(ctx, klog.FromContext(ctx).WithValues("daemonset", key)), key)
	if err == nil {
		c.queue.Forget(key)
		return true
	}
	klog.FromContext(ctx).Error(err, "Sync failed, will retry", "daemonset", key)
	c.queue.AddRateLimited(key)
	return true
}

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

func (c *Controller) gcBackoff(context.Context) { c.failedBackoff.gc(c.opts.Now()) }

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(ds *appsv1.DaemonSet, d time.Duration) {
	c.queue.AddAfter(key(ds), d)
}

func key(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

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
	if ref := metav1.GetControllerOf(m); ref != nil {
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

// StripManagedFields is an informer transform: managedFields are never read
// by the controller and are a large share of every cached object.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
