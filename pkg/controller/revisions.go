package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/daemonset-controller/daemonset-controller/pkg/history"
)

// currentRevision returns the ControllerRevision holding ds's template,
// creating it when missing, and the revisions of other templates. The
// current revision's hash label names the pods of the current template.
func (c *Controller) currentRevision(ctx context.Context, ds *appsv1.DaemonSet, cl *claimer, pods []*v1.Pod) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	revs, err := c.claimRevisions(ctx, ds, cl)
	if err != nil {
		return nil, nil, err
	}
	if cl.dryRun {
		return shadowRevision(ds, revs), nil, nil
	}
	patch, err := c.revisionData(ds)
	if err != nil {
		return nil, nil, err
	}
	var current []*appsv1.ControllerRevision
	for _, rev := range revs {
		if _, ok := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			// Old revisions may lack the label; upstream uses the name.
			rev = rev.DeepCopy()
			if rev.Labels == nil {
				rev.Labels = map[string]string{}
			}
			rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = rev.Name
			if rev, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, rev, metav1.UpdateOptions{}); err != nil {
				return nil, nil, err
			}
		}
		if history.Matches(patch, rev) {
			current = append(current, rev)
		} else {
			old = append(old, rev)
		}
	}
	next := history.MaxRevision(old) + 1
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupRevisions(ctx, ds, current, pods); err != nil {
		return nil, nil, err
	}
	// A template restored by rollback becomes the newest revision again.
	if cur.Revision < next {
		upd := cur.DeepCopy()
		upd.Revision = next
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// dedupRevisions keeps the newest of several revisions that hold the same
// template (left by a hash collision, or an older controller). Pods of the
// others are relabelled to its hash first; the others are deleted only once
// the cache shows no pod carrying their hash, so that no sync ever sees
// those pods as out of date and rolls them.
func (c *Controller) dedupRevisions(ctx context.Context, ds *appsv1.DaemonSet, same []*appsv1.ControllerRevision, pods []*v1.Pod) (*appsv1.ControllerRevision, error) {
	keep := same[0]
	for _, rev := range same[1:] {
		if rev.Revision > keep.Revision {
			keep = rev
		}
	}
	if len(same) == 1 {
		return keep, nil
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	dup := map[string]bool{}
	for _, rev := range same {
		if rev != keep {
			dup[rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
		}
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, appsv1.DefaultDaemonSetUniqueLabelKey, hash)
	relabelled := 0
	for _, pod := range pods {
		if !dup[pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		relabelled++
	}
	if relabelled > 0 {
		return nil, errWaiting // the pod update events bring the DaemonSet back
	}
	for _, rev := range same {
		if rev == keep {
			continue
		}
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return keep, nil
}

// snapshot creates the revision for ds's template. A different revision
// under the same name is a hash collision: status.collisionCount is bumped
// so the next sync hashes to a new name.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	data, err := c.revisionData(ds)
	if err != nil {
		return nil, err
	}
	hash := history.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            history.Name(ds, hash),
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, rev, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
		// Nothing can be created in a namespace being deleted (its
		// revisions may be deleted already), and nothing is lost: go on
		// with the revision unsaved, so that the status is still written.
		return rev, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, getErr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	// Our own earlier write, or a revision of this very template: reuse it.
	if history.Matches(data, existing) {
		return existing, nil
	}
	upd := ds.DeepCopy()
	count := int32(0)
	if upd.Status.CollisionCount != nil {
		count = *upd.Status.CollisionCount
	}
	count++
	upd.Status.CollisionCount = &count
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("hash collision on revision %s; collisionCount is now %d", rev.Name, count)
}

// shadowRevision finds the revision of ds's template without writing: the
// matching one, or the one that would be created.
func shadowRevision(ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) *appsv1.ControllerRevision {
	patch, _ := history.Patch(ds) // on error nothing matches: a new revision
	for _, rev := range revs {
		if patch != nil && history.Matches(patch, rev) {
			hash := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
			if hash == "" {
				hash = rev.Name
			}
			return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: rev.Name,
				Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}}
		}
	}
	hash := history.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
	return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: history.Name(ds, hash),
		Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}}
}

// encodedPatch is a DaemonSet's revision data and what it was encoded from.
type encodedPatch struct {
	uid        types.UID
	generation int64
	data       []byte
}

// revisionData returns history.Patch(ds), encoded once per generation:
// every spec change (the template's included) bumps the generation, and
// three JSON passes on every sync are a visible share of a sync's cost.
// Generation 0 (objects not from an API server) is never cached.
func (c *Controller) revisionData(ds *appsv1.DaemonSet) ([]byte, error) {
	k := key(ds)
	if v, ok := c.patches.Load(k); ok {
		if e := v.(encodedPatch); e.uid == ds.UID && e.generation == ds.Generation && ds.Generation > 0 {
			return e.data, nil
		}
	}
	data, err := history.Patch(ds)
	if err != nil {
		return nil, err
	}
	if ds.Generation > 0 {
		c.patches.Store(k, encodedPatch{uid: ds.UID, generation: ds.Generation, data: data})
	}
	return data, nil
}
