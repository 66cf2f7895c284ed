package history

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// ToPrune returns the old revisions to delete so that at most limit remain,
// oldest first. A revision that a live pod still carries is never pruned:
// it is what that pod would be rolled back to.
func ToPrune(old []*appsv1.ControllerRevision, limit int, liveHashes map[string]bool) []*appsv1.ControllerRevision {
	excess := len(old) - max(limit, 0)
	if excess <= 0 {
		return nil
	}
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Revision < sorted[j].Revision })
	var out []*appsv1.ControllerRevision
	for _, rev := range sorted {
		if len(out) == excess {
			break
		}
		if !liveHashes[rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			out = append(out, rev)
		}
	}
	return out
}
