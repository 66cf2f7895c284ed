// Package rollout plans a RollingUpdate of a DaemonSet, as a pure function
// of the nodes, the pods on them, the current revision hash and the
// strategy: which old pods to delete now and which nodes get a new pod now,
// within maxUnavailable or maxSurge.
package rollout

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// Plan is the next step of a rollout.
type Plan struct {
	Delete   []*v1.Pod
	CreateOn []string
}

// Budget is a rollout's allowance, scaled to the desired number of nodes.
type Budget struct {
	MaxSurge, MaxUnavailable, Desired int
}

// Limits scales maxSurge and maxUnavailable to the nodes that should run the
// DaemonSet, rounding percentages up as upstream does. A strategy that
// allows neither (the API server rejects it, but a stale object may carry
// it) falls back to one unavailable node so that updates still progress.
func Limits(ru *appsv1.RollingUpdateDaemonSet, desired int) (Budget, error) {
	b := Budget{Desired: desired}
	unavailable, surge := intstr.FromInt32(1), intstr.FromInt32(0)
	if ru != nil && ru.MaxUnavailable != nil {
		unavailable = *ru.MaxUnavailable
	}
	if ru != nil && ru.MaxSurge != nil {
		surge = *ru.MaxSurge
	}
	var err error
	if b.MaxUnavailable, err = intstr.GetScaledValueFromIntOrPercent(&unavailable, desired, true); err != nil {
		return b, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	if b.MaxSurge, err = intstr.GetScaledValueFromIntOrPercent(&surge, desired, true); err != nil {
		return b, fmt.Errorf("invalid maxSurge: %w", err)
	}
	// The API server rejects negative values, but a percentage too large
	// for an int overflows into one; either would stall the rollout.
	if b.MaxUnavailable < 0 || b.MaxSurge < 0 {
		return b, fmt.Errorf("invalid rolling update: maxUnavailable %s and maxSurge %s scale to %d and %d nodes",
			unavailable.String(), surge.String(), b.MaxUnavailable, b.MaxSurge)
	}
	if desired > 0 && b.MaxUnavailable == 0 && b.MaxSurge == 0 {
		b.MaxUnavailable = 1
	}
	return b, nil
}

// node is one node's state in a rollout.
type node struct {
	name           string
	obj            *v1.Node // nil when the node is gone
	newPod, oldPod *v1.Pod
	ok             bool // at most one new and one old live pod
	ready          bool // the node reports Ready (read once: sorting compares it often)
}

// RollingUpdate plans the next step of a RollingUpdate. in is the same input
// the main plan used; generation is the legacy template generation (nil if
// unknown). Creating pods on nodes that have none, deleting extras and
// failed pods stay with plan.Compute.
func RollingUpdate(in plan.Input, ru *appsv1.RollingUpdateDaemonSet, generation *int64) (Plan, error) {
	if !anyOld(in, generation) {
		// Nothing to update, the common case on every pod event: the plan
		// is empty, and only the strategy's validity is left to report.
		_, err := Limits(ru, desiredOf(in))
		return Plan{}, err
	}
	nodes, desired := collect(in, generation)
	b, err := Limits(ru, desired)
	if err != nil {
		return Plan{}, err
	}
	if b.MaxSurge == 0 {
		return withinUnavailable(in, nodes, b), nil
	}
	return withinSurge(in, nodes, b), nil
}

// anyOld reports whether any live pod runs a template other than the
// current one.
func anyOld(in plan.Input, generation *int64) bool {
	for _, pods := range in.PodsByNode {
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil && !plan.IsUpdated(pod, in.Hash, generation) {
				return true
			}
		}
	}
	return false
}

func desiredOf(in plan.Input) int {
	desired := 0
	for _, n := range in.Nodes {
		if in.Placement.Check(n).ShouldRun {
			desired++
		}
	}
	return desired
}

// collect pairs each node that should run the DaemonSet, or has its pods,
// with its new and old pod, in a stable order: nodes that are not ready
// first (their pods serve least), then by name.
func collect(in plan.Input, generation *int64) ([]node, int) {
	desired := 0
	out := make([]node, 0, len(in.Nodes))
	seen := make(map[string]bool, len(in.Nodes))
	for _, n := range in.Nodes {
		if in.Placement.Check(n).ShouldRun {
			desired++
			seen[n.Name] = true
			out = append(out, pair(n.Name, n, in.PodsByNode[n.Name], in.Hash, generation))
		}
	}
	var byName map[string]*v1.Node // only for pods on nodes that should not run them
	for name, pods := range in.PodsByNode {
		if seen[name] {
			continue
		}
		if byName == nil {
			byName = make(map[string]*v1.Node, len(in.Nodes))
			for _, n := range in.Nodes {
				byName[n.Name] = n
			}
		}
		out = append(out, pair(name, byName[name], pods, in.Hash, generation))
	}
	// Node names are unique, so the order is total and needs no stable sort.
	slices.SortFunc(out, func(a, b node) int {
		if a.ready != b.ready {
			if a.ready {
				return 1
			}
			return -1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, desired
}

func pair(name string, obj *v1.Node, pods []*v1.Pod, hash string, generation *int64) node {
	n := node{name: name, obj: obj, ok: true, ready: nodeReady(obj)}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		slot := &n.oldPod
		if plan.IsUpdated(pod, hash, generation) {
			slot = &n.newPod
		}
		if *slot != nil {
			n.ok = false // duplicates: the main plan prunes them first
		}
		*slot = pod
	}
	return n
}

func nodeReady(n *v1.Node) bool {
	if n == nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// withinUnavailable deletes old pods so that at most maxUnavailable nodes
// are without an available pod; the main plan then creates new pods there.
// Old pods that are not available anyway are replaced at once: deleting
// them costs no availability.
func withinUnavailable(in plan.Input, nodes []node, b Budget) Plan {
	var p Plan
	unavailable := 0
	var candidates []*v1.Pod
	for _, n := range nodes {
		switch {
		case !n.ok, n.oldPod == nil && n.newPod == nil, n.oldPod != nil && n.newPod != nil:
			unavailable++ // being created or pruned by the main plan
		case n.newPod != nil:
			if !plan.IsAvailable(n.newPod, in.MinReadySeconds, in.Now) {
				unavailable++
			}
		case !plan.IsAvailable(n.oldPod, in.MinReadySeconds, in.Now):
			p.Delete = append(p.Delete, n.oldPod)
			unavailable++
		default:
			candidates = append(candidates, n.oldPod)
		}
	}
	room := min(max(b.MaxUnavailable-unavailable, 0), len(candidates))
	p.Delete = append(p.Delete, candidates[:room]...)
	return p
}

// withinSurge creates a new pod beside an old one on at most maxSurge nodes
// at a time, and deletes the old pod once the new one is available, so
// availability never drops.
func withinSurge(in plan.Input, nodes []node, b Budget) Plan {
	var p Plan
	surging, available := 0, 0
	var candidates []string
	var misplaced []*v1.Pod // old, available pods on nodes that should not run them
	for _, n := range nodes {
		if !n.ok {
			surging++
			continue
		}
		switch {
		case n.oldPod != nil && plan.IsAvailable(n.oldPod, in.MinReadySeconds, in.Now):
			available++
		case n.oldPod == nil && n.newPod != nil && plan.IsAvailable(n.newPod, in.MinReadySeconds, in.Now):
			available++
		}
		switch {
		case n.oldPod == nil:
			// nothing to update; the main plan creates where needed
		case n.newPod == nil:
			shouldRun := n.obj != nil && in.Placement.Check(n.obj).ShouldRun
			switch {
			case !plan.IsAvailable(n.oldPod, in.MinReadySeconds, in.Now) && !shouldRun:
				p.Delete = append(p.Delete, n.oldPod)
			case !plan.IsAvailable(n.oldPod, in.MinReadySeconds, in.Now):
				p.CreateOn = append(p.CreateOn, n.name) // replacing costs nothing
			case !shouldRun:
				misplaced = append(misplaced, n.oldPod)
			case surging < b.MaxSurge:
				candidates = append(candidates, n.name)
			}
		case !plan.IsAvailable(n.newPod, in.MinReadySeconds, in.Now):
			surging++
		default:
			p.Delete = append(p.Delete, n.oldPod) // the new pod serves now
		}
	}
	// Pods on nodes that should no longer run them go only while enough
	// pods elsewhere are available.
	if extra := min(available-b.Desired, len(misplaced)); extra > 0 {
		p.Delete = append(p.Delete, misplaced[:extra]...)
	}
	room := min(max(b.MaxSurge-surging, 0), len(candidates))
	p.CreateOn = append(p.CreateOn, candidates[:room]...)
	return p
}
