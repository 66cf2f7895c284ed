// Package plan computes what a DaemonSet's controller must do, as a pure
// function of the nodes, the DaemonSet's pods on them and its placement
// rules: which nodes need a new pod, and which pods must go.
package plan

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
)

// Input is everything the plan depends on.
type Input struct {
	Nodes []*v1.Node
	// PodsByNode maps a node name to the DaemonSet's pods that target it
	// (bound there, or pending with node affinity for it).
	PodsByNode map[string][]*v1.Pod
	Placement  *placement.Checker
	// Hash is the controller-revision-hash of the current template.
	Hash string
	// Surge allows a second pod on a node while a rolling update surges.
	Surge           bool
	MinReadySeconds int32
	Now             time.Time
}

// Plan is what to do. Every pod appears at most once.
type Plan struct {
	// CreateOn lists nodes that need a daemon pod, in node order.
	CreateOn []string
	// Delete lists pods to delete without further ado: duplicates, pods on
	// nodes that must not run them, and pods whose node no longer exists and
	// that were never scheduled.
	Delete []*v1.Pod
	// Failed lists Failed pods; the caller deletes them subject to per-node
	// backoff and reports them.
	Failed []*v1.Pod
	// Succeeded lists Succeeded pods; a daemon must not exit, so they are
	// deleted and replaced.
	Succeeded []*v1.Pod
	// Lost lists pods bound to nodes that are not in Nodes. The caller
	// confirms the node is really gone before deleting them.
	Lost []*v1.Pod
}

// Compute builds the plan.
func Compute(in Input) Plan {
	var p Plan
	known := make(map[string]bool, len(in.Nodes))
	for _, node := range in.Nodes {
		known[node.Name] = true
		p.node(in, node)
	}
	// Sorted so the plan does not depend on map order.
	var gone []string
	for name := range in.PodsByNode {
		if !known[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		for _, pod := range in.PodsByNode[name] {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Spec.NodeName == "":
				p.Delete = append(p.Delete, pod)
			default:
				p.Lost = append(p.Lost, pod)
			}
		}
	}
	return p
}

func (p *Plan) node(in Input, node *v1.Node) {
	d := in.Placement.Check(node)
	pods, exists := in.PodsByNode[node.Name]
	switch {
	case d.ShouldRun && !exists:
		p.CreateOn = append(p.CreateOn, node.Name)
	case d.ShouldContinue:
		running := p.sortOut(pods)
		if in.Surge {
			p.keepSurging(in, node, d, running)
			return
		}
		// Keep the oldest (bound and ready first); the rest are duplicates.
		if len(running) > 1 {
			p.Delete = append(p.Delete, oldestFirst(running)[1:]...)
		}
	case exists:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				p.Delete = append(p.Delete, pod)
			}
		}
	}
}

// sortOut files Failed and Succeeded pods and returns the live ones.
// Terminating pods are left alone: the node keeps them until they are gone,
// and no replacement is created meanwhile.
func (p *Plan) sortOut(pods []*v1.Pod) []*v1.Pod {
	if allLive(pods) {
		// The common case, without a copy; the caller sorts only a copy.
		return pods
	}
	var running []*v1.Pod
	for _, pod := range pods {
		switch {
		case pod.DeletionTimestamp != nil:
		case pod.Status.Phase == v1.PodFailed:
			p.Failed = append(p.Failed, pod)
		case pod.Status.Phase == v1.PodSucceeded:
			p.Succeeded = append(p.Succeeded, pod)
		default:
			running = append(running, pod)
		}
	}
	return running
}

func allLive(pods []*v1.Pod) bool {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded {
			return false
		}
	}
	return true
}

// keepSurging allows two pods on a node only while the oldest pod of the
// current revision is not yet available and the oldest old pod still serves.
func (p *Plan) keepSurging(in Input, node *v1.Node, d placement.Decision, running []*v1.Pod) {
	if len(running) == 0 {
		if d.ShouldRun {
			p.CreateOn = append(p.CreateOn, node.Name)
		}
		return
	}
	if len(running) == 1 {
		return
	}
	var newest, oldest *v1.Pod
	for _, pod := range oldestFirst(running) {
		switch {
		case pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == in.Hash && newest == nil:
			newest = pod
		case pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != in.Hash && oldest == nil:
			oldest = pod
		default:
			p.Delete = append(p.Delete, pod)
		}
	}
	if newest != nil && oldest != nil &&
		(!IsReady(oldest) || IsAvailable(newest, in.MinReadySeconds, in.Now)) {
		p.Delete = append(p.Delete, oldest)
	}
}

// SortOldestFirst orders pods bound first, then oldest first, then by name,
// so the pod that has served longest is kept.
func SortOldestFirst(pods []*v1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return older(pods[i], pods[j]) })
}

// oldestFirst returns a sorted copy: sortOut may hand back the caller's
// own slice, whose order stays.
func oldestFirst(pods []*v1.Pod) []*v1.Pod {
	out := append([]*v1.Pod(nil), pods...)
	SortOldestFirst(out)
	return out
}

// Oldest returns the pod SortOldestFirst would put first, without sorting
// (or copying) the slice.
func Oldest(pods []*v1.Pod) *v1.Pod {
	var oldest *v1.Pod
	for _, pod := range pods {
		if oldest == nil || older(pod, oldest) {
			oldest = pod
		}
	}
	return oldest
}

func older(a, b *v1.Pod) bool {
	if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
		return a.Spec.NodeName != ""
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
