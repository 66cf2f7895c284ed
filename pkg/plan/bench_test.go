package plan

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
)

// benchInput is a 5,000-node cluster where 90% of nodes match a
// DaemonSet with a nodeSelector, a toleration and required node affinity,
// and every matching node but the last 100 already runs its pod.
func benchInput(nodes int) Input {
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Tolerations:  []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "infra", Effect: v1.TaintEffectNoSchedule}},
		Affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: "node.kubernetes.io/instance-type", Operator: v1.NodeSelectorOpNotIn, Values: []string{"tiny", "micro"}},
			}}},
		}}},
	}}}}
	in := Input{PodsByNode: map[string][]*v1.Pod{}, Placement: placement.New(ds), Hash: "h1", Now: time.Now()}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("node-%05d", i)
		n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "large", "topology.kubernetes.io/zone": fmt.Sprint("z", i%3)}}}
		if i%10 == 0 {
			n.Spec.Taints = []v1.Taint{{Key: "gpu", Effect: v1.TaintEffectNoSchedule}}
		}
		in.Nodes = append(in.Nodes, n)
		if i%10 != 0 && i < nodes-100 {
			in.PodsByNode[name] = []*v1.Pod{{
				ObjectMeta: metav1.ObjectMeta{Name: name + "-pod", Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "h1"}},
				Spec:       v1.PodSpec{NodeName: name},
				Status:     v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}},
			}}
		}
	}
	return in
}

func BenchmarkCompute5000(b *testing.B) {
	in := benchInput(5000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := Compute(in)
		if len(p.CreateOn) == 0 {
			b.Fatal("nothing to create")
		}
	}
}

func BenchmarkStatus5000(b *testing.B) {
	in := benchInput(5000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Status(in, nil)
	}
}

func BenchmarkPlacement5000(b *testing.B) {
	in := benchInput(5000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, n := range in.Nodes {
			in.Placement.Check(n)
		}
	}
}
