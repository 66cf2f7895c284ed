package controller

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
)

// syncNode resolves a changed node to the DaemonSets whose pods it affects,
// and enqueues only those. It costs one placement check per DaemonSet.
func (c *Controller) syncNode(name string) error {
	owners, err := c.podOwnersOnNode(name)
	if err != nil {
		return err
	}
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		// Gone: every DaemonSet with a pod there must clean up.
		for k := range owners {
			c.queue.Add(k)
		}
		return nil
	}
	if err != nil {
		return err
	}
	dsList, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, ds := range dsList {
		d := placement.New(ds).Check(node)
		k := key(ds)
		scheduled := owners[k]
		switch {
		case d.ShouldRun && !scheduled:
			// Renewed first, then queued: the sync given way to is always
			// followed by one that sees this node.
			if !c.expectations.IsCreatingOn(k, name) {
				c.renew(k) // the node waits for its pod: see renewal
			}
			c.queue.Add(k)
		case (!d.ShouldContinue && scheduled) || (scheduled && ds.Status.NumberMisscheduled > 0):
			c.queue.Add(k)
		}
	}
	return nil
}

// podOwnersOnNode returns the keys of the DaemonSets with a pod on node.
func (c *Controller) podOwnersOnNode(node string) (map[string]bool, error) {
	objs, err := c.pods.ByIndex(byNode, node)
	if err != nil {
		return nil, fmt.Errorf("listing pods on node %s: %w", node, err)
	}
	owners := map[string]bool{}
	for _, obj := range objs {
		pod := obj.(*v1.Pod)
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.Kind == "DaemonSet" {
			owners[pod.Namespace+"/"+ref.Name] = true
		}
	}
	return owners, nil
}
