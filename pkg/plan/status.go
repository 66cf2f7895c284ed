package plan

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
)

// Counts are the numbers a DaemonSet's status reports.
type Counts struct {
	DesiredNumberScheduled int32
	CurrentNumberScheduled int32
	NumberMisscheduled     int32
	NumberReady            int32
	UpdatedNumberScheduled int32
	NumberAvailable        int32
	NumberUnavailable      int32
}

// Status counts, over the nodes, what the DaemonSet's status reports. On a
// node with several pods the oldest one counts, as upstream does.
// templateGeneration is the DaemonSet's legacy pod-template-generation (nil
// if unknown): a pod that carries it is up to date too.
func Status(in Input, templateGeneration *int64) Counts {
	var c Counts
	for _, node := range in.Nodes {
		pods := in.PodsByNode[node.Name]
		if !in.Placement.Check(node).ShouldRun {
			if len(pods) > 0 {
				c.NumberMisscheduled++
			}
			continue
		}
		c.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		c.CurrentNumberScheduled++
		pod := Oldest(pods)
		if IsReady(pod) {
			c.NumberReady++
			if IsAvailable(pod, in.MinReadySeconds, in.Now) {
				c.NumberAvailable++
			}
		}
		if IsUpdated(pod, in.Hash, templateGeneration) {
			c.UpdatedNumberScheduled++
		}
	}
	c.NumberUnavailable = c.DesiredNumberScheduled - c.NumberAvailable
	return c
}

// IsUpdated reports whether pod runs the current template: it carries the
// current revision hash, or the current legacy template generation.
func IsUpdated(pod *v1.Pod, hash string, templateGeneration *int64) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	return templateGeneration != nil &&
		pod.Labels[TemplateGenerationLabel] == fmt.Sprint(*templateGeneration)
}

// TemplateGenerationLabel is the legacy label, still set on new pods, that
// names the DaemonSet generation a pod was made from.
const TemplateGenerationLabel = "pod-template-generation"
