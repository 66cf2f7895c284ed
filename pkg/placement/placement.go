package placement

import (
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// Decision says what a DaemonSet may do on one node.
type Decision struct {
	// ShouldRun: a pod should be created if the node has none.
	ShouldRun bool
	// ShouldContinue: a pod already on the node may stay.
	ShouldContinue bool
}

// Checker answers placement questions for one DaemonSet. Build it once per
// sync with New and ask it about every node: parsing the template's
// selectors dominates the cost of a check.
type Checker struct {
	nodeName    string
	affinity    nodeAffinity
	tolerations []v1.Toleration
}

// New returns a Checker for the pods that ds creates.
func New(ds *appsv1.DaemonSet) *Checker {
	spec := ds.Spec.Template.Spec
	spec.Tolerations = append([]v1.Toleration(nil), spec.Tolerations...)
	AddDaemonTolerations(&spec)
	return &Checker{
		nodeName:    spec.NodeName,
		affinity:    newNodeAffinity(spec.NodeSelector, spec.Affinity),
		tolerations: spec.Tolerations,
	}
}

// Check decides for one node. A node that does not match the node name,
// selector or required affinity gets nothing. An untolerated NoSchedule or
// NoExecute taint stops new pods; only an untolerated NoExecute taint evicts
// running ones, exactly as the kubelet and taint manager would.
func (c *Checker) Check(node *v1.Node) Decision {
	if c.nodeName != "" && c.nodeName != node.Name {
		return Decision{}
	}
	if !c.affinity.matches(node) {
		return Decision{}
	}
	noSchedule := c.untolerated(node.Spec.Taints, v1.TaintEffectNoSchedule)
	noExecute := c.untolerated(node.Spec.Taints, v1.TaintEffectNoExecute)
	return Decision{ShouldRun: !noSchedule && !noExecute, ShouldContinue: !noExecute}
}

// untolerated reports whether some taint with the given effect is not
// tolerated by the daemon pods.
func (c *Checker) untolerated(taints []v1.Taint, effect v1.TaintEffect) bool {
	for i := range taints {
		if taints[i].Effect != effect {
			continue
		}
		if !tolerates(c.tolerations, &taints[i]) {
			return true
		}
	}
	return false
}

func tolerates(tolerations []v1.Toleration, taint *v1.Taint) bool {
	for i := range tolerations {
		// Lt and Gt only reach the API when their feature gate is on, so a
		// toleration that carries them is honoured.
		if tolerations[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}
