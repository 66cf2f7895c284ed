package controller

import (
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// Event handlers only map an event to the keys that need work. They never
// call the API and never loop over nodes.

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*v1.Pod)
	if pod.DeletionTimestamp != nil {
		// A restarted informer can list a pod that is already going.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ds := c.resolve(pod.Namespace, ref); ds != nil {
			c.expectations.CreationObserved(key(ds), plan.TargetNode(pod))
			c.queue.Add(key(ds))
		}
		return
	}
	c.enqueueSelecting(pod.Namespace, pod.Labels)
}

func (c *Controller) updatePod(oldObj, newObj interface{}) {
	old, cur := oldObj.(*v1.Pod), newObj.(*v1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // periodic resync
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// Graceful deletion: the pod is as good as gone for the plan, so the
		// deletion is observed now rather than when the kubelet lets go.
		c.deletePod(cur)
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if ds := c.resolve(old.Namespace, oldRef); ds != nil {
			c.queue.Add(key(ds))
		}
	}
	if curRef != nil {
		ds := c.resolve(cur.Namespace, curRef)
		if ds == nil {
			return
		}
		var wait time.Duration
		if progressOnly(old, cur) && !updating(ds) {
			wait = c.statusHold(ds) // after the cheap checks: it may ask the rate limiter
		}
		if wait > 0 {
			// The status would be held back anyway (see statusWait), and a
			// sync per readiness change costs CPU at O(nodes): the sync at
			// the end of the hold sees this change too. Not during an
			// update, whose next step waits for exactly these changes.
			c.queue.AddAfter(key(ds), wait)
		} else {
			c.queue.Add(key(ds))
		}
		// Availability turns over minReadySeconds after readiness, with no
		// event of its own: look again then.
		if ds.Spec.MinReadySeconds > 0 && !plan.IsReady(old) && plan.IsReady(cur) {
			c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if !equality.Semantic.DeepEqual(old.Labels, cur.Labels) || oldRef != nil {
		c.enqueueSelecting(cur.Namespace, cur.Labels)
	}
}

// progressOnly reports whether a pod's update only moves it along its
// life (scheduled, started, ready), which the plan acts on only through
// availability: not a change of labels, node, deletion or a terminal phase.
func progressOnly(old, cur *v1.Pod) bool {
	terminal := cur.Status.Phase == v1.PodFailed || cur.Status.Phase == v1.PodSucceeded
	return !terminal && cur.DeletionTimestamp == nil && old.Spec.NodeName == cur.Spec.NodeName &&
		equality.Semantic.DeepEqual(old.Labels, cur.Labels)
}

// updating reports whether ds's status shows pods still to be updated, or
// a spec not yet acted on.
func updating(ds *appsv1.DaemonSet) bool {
	return ds.Status.UpdatedNumberScheduled < ds.Status.DesiredNumberScheduled || ds.Status.ObservedGeneration < ds.Generation
}

func (c *Controller) deletePod(obj interface{}) {
	m, err := metaOf(obj)
	if err != nil {
		return
	}
	ref := metav1.GetControllerOfNoCopy(m)
	if ref == nil {
		return // an orphan's deletion changes nothing for anybody
	}
	if ds := c.resolve(m.GetNamespace(), ref); ds != nil {
		c.expectations.DeletionObserved(key(ds), m.GetUID())
		c.queue.Add(key(ds))
	}
}

func (c *Controller) changedRevision(obj interface{}) {
	m, err := metaOf(obj)
	if err != nil {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		if ds := c.resolve(m.GetNamespace(), ref); ds != nil {
			c.queue.Add(key(ds))
		}
		return
	}
	c.enqueueSelecting(m.GetNamespace(), m.GetLabels())
}

// resolve returns the DaemonSet a controllerRef names, if it is in the
// cache with that UID.
func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	// Any version of the apps group: old clusters have pods whose owner
	// reference says extensions/v1beta1 or apps/v1beta2.
	if ref.Kind != "DaemonSet" || !isAppsGroup(ref.APIVersion) {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// enqueueSelecting enqueues the DaemonSets in namespace whose selector
// matches lbls: they may adopt an orphan with those labels.
func (c *Controller) enqueueSelecting(namespace string, lbls map[string]string) {
	list, err := c.dsLister.DaemonSets(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(lbls)) {
			c.queue.Add(key(ds))
		}
	}
}

func (c *Controller) addNode(obj interface{}) {
	c.nodeQueue.Add(obj.(*v1.Node).Name)
}

// updateNode ignores the status heartbeats that make up nearly all node
// updates: only labels and taints change where daemons run.
func (c *Controller) updateNode(oldObj, newObj interface{}) {
	old, cur := oldObj.(*v1.Node), newObj.(*v1.Node)
	if equality.Semantic.DeepEqual(old.Labels, cur.Labels) &&
		equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		return
	}
	c.nodeQueue.Add(cur.Name)
}

func (c *Controller) deleteNode(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*v1.Node); ok {
		c.nodeQueue.Add(node.Name)
	}
}

func isAppsGroup(apiVersion string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	return group == "apps" || group == "extensions"
}
