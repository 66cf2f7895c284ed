package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// claimer adopts orphans that match a DaemonSet's selector and releases
// owned objects that no longer match. Objects owned by another controller
// are never touched.
type claimer struct {
	client   kubernetes.Interface
	ds       *appsv1.DaemonSet
	selector labels.Selector
	// dryRun decides ownership as a claim would, without patching.
	dryRun bool
	// adoptErr caches the one live check per sync that the DaemonSet is
	// still there and not being deleted before anything is adopted: the
	// cache may be stale, and adopting into a dying owner leaks objects.
	checked  bool
	adoptErr error
}

func newClaimer(client kubernetes.Interface, ds *appsv1.DaemonSet, selector labels.Selector) *claimer {
	return &claimer{client: client, ds: ds, selector: selector}
}

func (cl *claimer) canAdopt(ctx context.Context) error {
	if cl.checked {
		return cl.adoptErr
	}
	cl.checked = true
	fresh, err := cl.client.AppsV1().DaemonSets(cl.ds.Namespace).Get(ctx, cl.ds.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		cl.adoptErr = err
	case fresh.UID != cl.ds.UID:
		cl.adoptErr = fmt.Errorf("DaemonSet %s/%s was replaced (uid %s, want %s)", cl.ds.Namespace, cl.ds.Name, fresh.UID, cl.ds.UID)
	case fresh.DeletionTimestamp != nil:
		cl.adoptErr = fmt.Errorf("DaemonSet %s/%s is being deleted", cl.ds.Namespace, cl.ds.Name)
	}
	return cl.adoptErr
}

// patcher applies a strategic merge patch to the named object.
type patcher func(ctx context.Context, name string, patch []byte) error

// claim decides whether obj belongs to the DaemonSet, adopting or releasing
// it through patch as needed.
func (cl *claimer) claim(ctx context.Context, obj metav1.Object, patch patcher) (bool, error) {
	matches := cl.selector.Matches(labels.Set(obj.GetLabels()))
	ref := metav1.GetControllerOfNoCopy(obj)
	switch {
	case ref != nil && ref.UID == cl.ds.UID:
		if matches || cl.dryRun {
			return matches, nil
		}
		err := patch(ctx, obj.GetName(), releasePatch(cl.ds.UID, obj.GetUID()))
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			return false, nil // gone, or already changed under us
		}
		return false, err
	case ref != nil || !matches || obj.GetDeletionTimestamp() != nil:
		return false, nil
	case cl.dryRun:
		return true, nil // would adopt
	}
	if err := cl.canAdopt(ctx); err != nil {
		return false, fmt.Errorf("cannot adopt %s: %w", obj.GetName(), err)
	}
	err := patch(ctx, obj.GetName(), adoptPatch(cl.ds, obj.GetUID()))
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// adoptPatch sets the DaemonSet as controller; the uid precondition makes
// the patch fail if the object was replaced by another of the same name.
func adoptPatch(ds *appsv1.DaemonSet, uid types.UID) []byte {
	return fmt.Appendf(nil,
		`{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"uid":%q}}`,
		ds.Name, ds.UID, uid)
}

func releasePatch(owner, uid types.UID) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, owner, uid)
}

// claimPods returns the pods the DaemonSet owns after adoption and release.
// It reads only the pods indexed under the DaemonSet's UID or as orphans in
// its namespace.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, cl *claimer) ([]*v1.Pod, error) {
	patch := func(ctx context.Context, name string, p []byte) error {
		_, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		return err
	}
	var out []*v1.Pod
	var errs []error
	for _, idx := range []string{string(ds.UID), orphanKey(ds.Namespace)} {
		objs, err := c.pods.ByIndex(byOwner, idx)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			pod := obj.(*v1.Pod)
			ok, err := cl.claim(ctx, pod, patch)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				out = append(out, pod)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("claiming pods: %w", errs[0])
	}
	return out, nil
}

// claimRevisions is claimPods for ControllerRevisions.
func (c *Controller) claimRevisions(ctx context.Context, ds *appsv1.DaemonSet, cl *claimer) ([]*appsv1.ControllerRevision, error) {
	patch := func(ctx context.Context, name string, p []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		return err
	}
	var out []*appsv1.ControllerRevision
	for _, idx := range []string{string(ds.UID), orphanKey(ds.Namespace)} {
		objs, err := c.revs.ByIndex(byOwner, idx)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			rev := obj.(*appsv1.ControllerRevision)
			ok, err := cl.claim(ctx, rev, patch)
			if err != nil {
				return nil, fmt.Errorf("claiming revisions: %w", err)
			}
			if ok {
				out = append(out, rev)
			}
		}
	}
	return out, nil
}
