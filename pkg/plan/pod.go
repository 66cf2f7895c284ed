package plan

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IsReady reports whether the pod's Ready condition is True.
func IsReady(pod *v1.Pod) bool {
	return readyCondition(pod) != nil
}

// IsAvailable reports whether the pod has been ready for at least
// minReadySeconds at now.
func IsAvailable(pod *v1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(pod)
	if c == nil {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	min := time.Duration(minReadySeconds) * time.Second
	// Available once ready for exactly minReadySeconds, as upstream's
	// podutil.IsPodAvailable counts it.
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(min).After(now)
}

func readyCondition(pod *v1.Pod) *v1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type == v1.PodReady {
			if c.Status == v1.ConditionTrue {
				return c
			}
			return nil
		}
	}
	return nil
}

// TargetNode returns the node a daemon pod is for: its spec.nodeName once
// bound, else the single metadata.name the controller put in its required
// node affinity. It returns "" for a pod that names no single node.
func TargetNode(pod *v1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == v1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}
