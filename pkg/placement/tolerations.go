// Package placement decides whether a node should run a DaemonSet's pod.
//
// It mirrors what kube-scheduler would decide for the parts a DaemonSet
// controller owns (node name, node selector, required node affinity, taints)
// and leaves resource fit, ports and volumes to the scheduler.
package placement

import (
	v1 "k8s.io/api/core/v1"
)

// daemonTolerations are the tolerations every daemon pod gets, so that node
// problems never evict daemons and cordoned or pressured nodes still run them.
var daemonTolerations = []v1.Toleration{
	{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
	{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
	{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodePIDPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added only for hostNetwork pods: they do not need
// the pod network, so a node without it can still run them.
var hostNetworkToleration = v1.Toleration{
	Key: v1.TaintNodeNetworkUnavailable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule,
}

// AddDaemonTolerations adds the automatic daemon tolerations to spec. A
// toleration already present with the same key, operator, value and effect
// is replaced in place, exactly as upstream does, so pods come out the same.
func AddDaemonTolerations(spec *v1.PodSpec) {
	for _, t := range daemonTolerations {
		addOrUpdateToleration(spec, t)
	}
	if spec.HostNetwork {
		addOrUpdateToleration(spec, hostNetworkToleration)
	}
}

// addOrUpdateToleration replaces every toleration that matches t (upstream
// replaces them all, duplicates included) and appends t if none did.
func addOrUpdateToleration(spec *v1.PodSpec, t v1.Toleration) {
	replaced := false
	for i := range spec.Tolerations {
		if spec.Tolerations[i].MatchToleration(&t) {
			spec.Tolerations[i] = t
			replaced = true
		}
	}
	if !replaced {
		spec.Tolerations = append(spec.Tolerations, t)
	}
}
