package placement

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Decisions used throughout: run (create and keep), keep (keep only), none.
var (
	run  = Decision{ShouldRun: true, ShouldContinue: true}
	keep = Decision{ShouldRun: false, ShouldContinue: true}
	none = Decision{}
)

func daemonSet(mutate ...func(*v1.PodSpec)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Template: v1.PodTemplateSpec{
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
	for _, m := range mutate {
		m(&ds.Spec.Template.Spec)
	}
	return ds
}

func node(name string, mutate ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func labeled(kv ...string) func(*v1.Node) {
	return func(n *v1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func tainted(taints ...v1.Taint) func(*v1.Node) {
	return func(n *v1.Node) { n.Spec.Taints = append(n.Spec.Taints, taints...) }
}

func taint(key, value string, effect v1.TaintEffect) v1.Taint {
	return v1.Taint{Key: key, Value: value, Effect: effect}
}

func nodeName(name string) func(*v1.PodSpec) {
	return func(s *v1.PodSpec) { s.NodeName = name }
}

func nodeSelector(kv ...string) func(*v1.PodSpec) {
	return func(s *v1.PodSpec) {
		s.NodeSelector = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			s.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerate(ts ...v1.Toleration) func(*v1.PodSpec) {
	return func(s *v1.PodSpec) { s.Tolerations = append(s.Tolerations, ts...) }
}

func hostNetwork(s *v1.PodSpec) { s.HostNetwork = true }

// required sets the required node affinity to the given ORed terms.
func required(terms ...v1.NodeSelectorTerm) func(*v1.PodSpec) {
	return func(s *v1.PodSpec) {
		s.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
}

func expr(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
	return v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func field(op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
	return v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: op, Values: values}}}
}

func TestCheckNodeMatching(t *testing.T) {
	tests := []struct {
		name string
		spec []func(*v1.PodSpec)
		node *v1.Node
		want Decision
	}{
		{"no constraints", nil, node("n1"), run},
		{"nodeName matches", []func(*v1.PodSpec){nodeName("n1")}, node("n1"), run},
		{"nodeName differs", []func(*v1.PodSpec){nodeName("n2")}, node("n1"), none},

		{"nodeSelector matches", []func(*v1.PodSpec){nodeSelector("disk", "ssd")}, node("n1", labeled("disk", "ssd", "x", "y")), run},
		{"nodeSelector value differs", []func(*v1.PodSpec){nodeSelector("disk", "ssd")}, node("n1", labeled("disk", "hdd")), none},
		{"nodeSelector label missing", []func(*v1.PodSpec){nodeSelector("disk", "ssd")}, node("n1"), none},
		{"nodeSelector needs every label", []func(*v1.PodSpec){nodeSelector("disk", "ssd", "zone", "a")}, node("n1", labeled("disk", "ssd")), none},

		{"In matches", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpIn, "a", "b"))}, node("n1", labeled("zone", "b")), run},
		{"In does not match", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpIn, "a", "b"))}, node("n1", labeled("zone", "c")), none},
		{"In on missing label", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpIn, "a"))}, node("n1"), none},
		{"NotIn matches other value", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpNotIn, "a"))}, node("n1", labeled("zone", "b")), run},
		{"NotIn matches missing label", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpNotIn, "a"))}, node("n1"), run},
		{"NotIn excludes value", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpNotIn, "a"))}, node("n1", labeled("zone", "a")), none},
		{"Exists matches", []func(*v1.PodSpec){required(expr("gpu", v1.NodeSelectorOpExists))}, node("n1", labeled("gpu", "")), run},
		{"Exists on missing label", []func(*v1.PodSpec){required(expr("gpu", v1.NodeSelectorOpExists))}, node("n1"), none},
		{"DoesNotExist matches", []func(*v1.PodSpec){required(expr("gpu", v1.NodeSelectorOpDoesNotExist))}, node("n1"), run},
		{"DoesNotExist on present label", []func(*v1.PodSpec){required(expr("gpu", v1.NodeSelectorOpDoesNotExist))}, node("n1", labeled("gpu", "1")), none},
		{"Gt matches", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpGt, "4"))}, node("n1", labeled("cores", "8")), run},
		{"Gt equal is not greater", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpGt, "4"))}, node("n1", labeled("cores", "4")), none},
		{"Gt on non-integer label", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpGt, "4"))}, node("n1", labeled("cores", "many")), none},
		{"Lt matches", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpLt, "4"))}, node("n1", labeled("cores", "2")), run},
		{"Lt does not match", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpLt, "4"))}, node("n1", labeled("cores", "5")), none},

		{"matchFields In matches name", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpIn, "n1"))}, node("n1"), run},
		{"matchFields In other name", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpIn, "n2"))}, node("n1"), none},
		{"matchFields NotIn other name", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpNotIn, "n2"))}, node("n1"), run},
		{"matchFields NotIn own name", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpNotIn, "n1"))}, node("n1"), none},
		{"matchFields with two values is invalid", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpIn, "n1", "n2"))}, node("n1"), none},
		{"matchFields Exists is invalid", []func(*v1.PodSpec){required(field(v1.NodeSelectorOpExists))}, node("n1"), none},
		{"matchFields and matchExpressions both hold", []func(*v1.PodSpec){required(v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}}},
			MatchFields:      []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{"n1"}}},
		})}, node("n1", labeled("zone", "a")), run},
		{"matchFields holds, matchExpressions fails", []func(*v1.PodSpec){required(v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}}},
			MatchFields:      []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{"n1"}}},
		})}, node("n1", labeled("zone", "b")), none},
		{"all expressions of a term are ANDed", []func(*v1.PodSpec){required(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}},
			{Key: "gpu", Operator: v1.NodeSelectorOpExists},
		}})}, node("n1", labeled("zone", "a")), none},

		{"empty term matches nothing", []func(*v1.PodSpec){required(v1.NodeSelectorTerm{})}, node("n1", labeled("zone", "a")), none},
		{"no terms match nothing", []func(*v1.PodSpec){required()}, node("n1"), none},
		{"terms are ORed: second matches", []func(*v1.PodSpec){required(
			expr("zone", v1.NodeSelectorOpIn, "a"),
			expr("zone", v1.NodeSelectorOpIn, "b"),
		)}, node("n1", labeled("zone", "b")), run},
		{"terms are ORed: none matches", []func(*v1.PodSpec){required(
			expr("zone", v1.NodeSelectorOpIn, "a"),
			expr("zone", v1.NodeSelectorOpIn, "b"),
		)}, node("n1", labeled("zone", "c")), none},
		{"empty term ORed with matching term", []func(*v1.PodSpec){required(
			v1.NodeSelectorTerm{},
			expr("zone", v1.NodeSelectorOpIn, "a"),
		)}, node("n1", labeled("zone", "a")), run},

		{"invalid operator never matches", []func(*v1.PodSpec){required(expr("zone", "Near", "a"))}, node("n1", labeled("zone", "a")), none},
		{"In without values is invalid", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpIn))}, node("n1", labeled("zone", "a")), none},
		{"Exists with values is invalid", []func(*v1.PodSpec){required(expr("zone", v1.NodeSelectorOpExists, "a"))}, node("n1", labeled("zone", "a")), none},
		{"Gt with non-integer value is invalid", []func(*v1.PodSpec){required(expr("cores", v1.NodeSelectorOpGt, "four"))}, node("n1", labeled("cores", "8")), none},
		{"invalid key is invalid", []func(*v1.PodSpec){required(expr("bad key!", v1.NodeSelectorOpExists))}, node("n1", labeled("zone", "a")), none},
		{"invalid term ORed with valid matching term", []func(*v1.PodSpec){required(
			expr("zone", "Near", "a"),
			expr("zone", v1.NodeSelectorOpIn, "a"),
		)}, node("n1", labeled("zone", "a")), run},
		{"invalid requirement spoils its whole term", []func(*v1.PodSpec){required(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}},
			{Key: "zone", Operator: "Near", Values: []string{"a"}},
		}})}, node("n1", labeled("zone", "a")), none},

		{"nodeSelector and affinity both must hold", []func(*v1.PodSpec){
			nodeSelector("disk", "ssd"), required(expr("zone", v1.NodeSelectorOpIn, "a")),
		}, node("n1", labeled("zone", "a")), none},
		{"nodeSelector and affinity both hold", []func(*v1.PodSpec){
			nodeSelector("disk", "ssd"), required(expr("zone", v1.NodeSelectorOpIn, "a")),
		}, node("n1", labeled("zone", "a", "disk", "ssd")), run},
		{"affinity without required part", []func(*v1.PodSpec){func(s *v1.PodSpec) {
			s.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{}}
		}}, node("n1"), run},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(daemonSet(tt.spec...)).Check(tt.node); got != tt.want {
				t.Errorf("Check() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckTaintsAndTolerations(t *testing.T) {
	const key = "dedicated"
	ns := taint(key, "infra", v1.TaintEffectNoSchedule)
	ne := taint(key, "infra", v1.TaintEffectNoExecute)
	pns := taint(key, "infra", v1.TaintEffectPreferNoSchedule)
	num := func(v string, e v1.TaintEffect) v1.Taint { return taint("level", v, e) }

	tests := []struct {
		name   string
		taints []v1.Taint
		tols   []v1.Toleration
		want   Decision
	}{
		{"untolerated NoSchedule: keep only", []v1.Taint{ns}, nil, keep},
		{"untolerated NoExecute: nothing", []v1.Taint{ne}, nil, none},
		{"untolerated PreferNoSchedule is ignored", []v1.Taint{pns}, nil, run},
		{"NoSchedule and NoExecute untolerated", []v1.Taint{ns, ne}, nil, none},

		{"Exists tolerates any value", []v1.Taint{ns}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}, run},
		{"Equal with same value", []v1.Taint{ns}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpEqual, Value: "infra", Effect: v1.TaintEffectNoSchedule}}, run},
		{"Equal with other value", []v1.Taint{ns}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpEqual, Value: "web", Effect: v1.TaintEffectNoSchedule}}, keep},
		{"empty operator means Equal", []v1.Taint{ns}, []v1.Toleration{{Key: key, Value: "infra", Effect: v1.TaintEffectNoSchedule}}, run},
		{"empty operator with other value", []v1.Taint{ns}, []v1.Toleration{{Key: key, Value: "web", Effect: v1.TaintEffectNoSchedule}}, keep},
		{"other key", []v1.Taint{ns}, []v1.Toleration{{Key: "other", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}, keep},
		{"empty key with Exists tolerates everything", []v1.Taint{ns, ne, taint("x", "", v1.TaintEffectNoExecute)}, []v1.Toleration{{Operator: v1.TolerationOpExists}}, run},
		{"empty effect tolerates every effect", []v1.Taint{ns, ne}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists}}, run},
		{"effect must match", []v1.Taint{ne}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}, none},
		{"NoExecute tolerated, NoSchedule not", []v1.Taint{ns, ne}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}}, keep},
		{"NoExecute tolerated for a while still keeps", []v1.Taint{ne}, []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(60))}}, run},

		{"Lt tolerates smaller taint value", []v1.Taint{num("3", v1.TaintEffectNoSchedule)}, []v1.Toleration{{Key: "level", Operator: v1.TolerationOpLt, Value: "5", Effect: v1.TaintEffectNoSchedule}}, run},
		{"Lt rejects larger taint value", []v1.Taint{num("7", v1.TaintEffectNoSchedule)}, []v1.Toleration{{Key: "level", Operator: v1.TolerationOpLt, Value: "5", Effect: v1.TaintEffectNoSchedule}}, keep},
		{"Gt tolerates larger taint value", []v1.Taint{num("7", v1.TaintEffectNoExecute)}, []v1.Toleration{{Key: "level", Operator: v1.TolerationOpGt, Value: "5", Effect: v1.TaintEffectNoExecute}}, run},
		{"Gt rejects equal taint value", []v1.Taint{num("5", v1.TaintEffectNoExecute)}, []v1.Toleration{{Key: "level", Operator: v1.TolerationOpGt, Value: "5", Effect: v1.TaintEffectNoExecute}}, none},
		{"Gt with non-numeric taint value", []v1.Taint{num("high", v1.TaintEffectNoSchedule)}, []v1.Toleration{{Key: "level", Operator: v1.TolerationOpGt, Value: "5", Effect: v1.TaintEffectNoSchedule}}, keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(daemonSet(tolerate(tt.tols...)))
			if got := c.Check(node("n1", tainted(tt.taints...))); got != tt.want {
				t.Errorf("Check() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckAutomaticTolerations(t *testing.T) {
	tests := []struct {
		name        string
		taint       v1.Taint
		hostNetwork bool
		want        Decision
	}{
		{"not-ready NoExecute", taint(v1.TaintNodeNotReady, "", v1.TaintEffectNoExecute), false, run},
		{"unreachable NoExecute", taint(v1.TaintNodeUnreachable, "", v1.TaintEffectNoExecute), false, run},
		{"disk-pressure NoSchedule", taint(v1.TaintNodeDiskPressure, "", v1.TaintEffectNoSchedule), false, run},
		{"memory-pressure NoSchedule", taint(v1.TaintNodeMemoryPressure, "", v1.TaintEffectNoSchedule), false, run},
		{"pid-pressure NoSchedule", taint(v1.TaintNodePIDPressure, "", v1.TaintEffectNoSchedule), false, run},
		{"unschedulable NoSchedule", taint(v1.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule), false, run},
		{"network-unavailable without hostNetwork", taint(v1.TaintNodeNetworkUnavailable, "", v1.TaintEffectNoSchedule), false, keep},
		{"network-unavailable with hostNetwork", taint(v1.TaintNodeNetworkUnavailable, "", v1.TaintEffectNoSchedule), true, run},
		// The automatic tolerations are for one effect only.
		{"disk-pressure NoExecute is not tolerated", taint(v1.TaintNodeDiskPressure, "", v1.TaintEffectNoExecute), false, none},
		{"not-ready NoSchedule is not tolerated", taint(v1.TaintNodeNotReady, "", v1.TaintEffectNoSchedule), false, keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := daemonSet()
			ds.Spec.Template.Spec.HostNetwork = tt.hostNetwork
			if got := New(ds).Check(node("n1", tainted(tt.taint))); got != tt.want {
				t.Errorf("Check() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckUnschedulableNode(t *testing.T) {
	n := node("n1", func(n *v1.Node) { n.Spec.Unschedulable = true },
		tainted(taint(v1.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule)))
	if got := New(daemonSet()).Check(n); got != run {
		t.Errorf("cordoned node: Check() = %+v, want %+v (daemons run on cordoned nodes)", got, run)
	}
	// spec.unschedulable alone (no taint yet) does not stop daemons either.
	n = node("n2", func(n *v1.Node) { n.Spec.Unschedulable = true })
	if got := New(daemonSet()).Check(n); got != run {
		t.Errorf("spec.unschedulable only: Check() = %+v, want %+v", got, run)
	}
}

func TestNewDoesNotModifyDaemonSet(t *testing.T) {
	ds := daemonSet(tolerate(v1.Toleration{Key: "a", Operator: v1.TolerationOpExists}), hostNetwork)
	before := ds.DeepCopy()
	c := New(ds)
	if !reflect.DeepEqual(ds, before) {
		t.Errorf("New modified the DaemonSet:\n got %+v\nwant %+v", ds.Spec.Template.Spec.Tolerations, before.Spec.Template.Spec.Tolerations)
	}
	if got, want := len(c.tolerations), 1+len(daemonTolerations)+1; got != want {
		t.Errorf("len(Tolerations()) = %d, want %d: %+v", got, want, c.tolerations)
	}
}

func TestAddDaemonTolerations(t *testing.T) {
	notReady := v1.Toleration{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}
	unreachable := v1.Toleration{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}
	disk := v1.Toleration{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	memory := v1.Toleration{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	pid := v1.Toleration{Key: v1.TaintNodePIDPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	unschedulable := v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	network := v1.Toleration{Key: v1.TaintNodeNetworkUnavailable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	defaults := []v1.Toleration{notReady, unreachable, disk, memory, pid, unschedulable}
	own := v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "infra", Effect: v1.TaintEffectNoSchedule}

	tests := []struct {
		name        string
		tolerations []v1.Toleration
		hostNetwork bool
		want        []v1.Toleration
	}{
		{"empty", nil, false, defaults},
		{"hostNetwork adds network-unavailable", nil, true, append(append([]v1.Toleration{}, defaults...), network)},
		{"own tolerations are kept first", []v1.Toleration{own}, false, append([]v1.Toleration{own}, defaults...)},
		{
			"same key and effect is replaced, not duplicated",
			[]v1.Toleration{{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}},
			false, defaults,
		},
		{
			// As upstream: only an identical key, operator, value and
			// effect is replaced; another operator is kept beside it.
			"same key and effect with another operator is kept",
			[]v1.Toleration{{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpEqual, Value: "x", Effect: v1.TaintEffectNoSchedule}},
			false,
			append([]v1.Toleration{{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpEqual, Value: "x", Effect: v1.TaintEffectNoSchedule}}, defaults...),
		},
		{
			"same key, other effect is kept",
			[]v1.Toleration{{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}},
			false,
			append([]v1.Toleration{{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}, defaults...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &v1.PodSpec{Tolerations: append([]v1.Toleration(nil), tt.tolerations...), HostNetwork: tt.hostNetwork}
			AddDaemonTolerations(spec)
			if !reflect.DeepEqual(spec.Tolerations, tt.want) {
				t.Errorf("tolerations =\n%+v\nwant\n%+v", spec.Tolerations, tt.want)
			}
			// Idempotent: a second call changes nothing.
			AddDaemonTolerations(spec)
			if !reflect.DeepEqual(spec.Tolerations, tt.want) {
				t.Errorf("after a second call tolerations =\n%+v\nwant\n%+v", spec.Tolerations, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
