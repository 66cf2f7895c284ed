package rollout

import (
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func readyNode(name string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}}
}

func notReadyNode(name string) *v1.Node {
	n := readyNode(name)
	n.Status.Conditions[0].Status = v1.ConditionFalse
	return n
}

// pod returns a live pod on node with hash; readyFor < 0 means not ready.
func pod(name, node, hash string, readyFor time.Duration) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}},
		Spec:       v1.PodSpec{NodeName: node},
		Status:     v1.PodStatus{Phase: v1.PodRunning},
	}
	if readyFor >= 0 {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now.Add(-readyFor))}}
	}
	return p
}

func ds() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: v1.PodTemplateSpec{
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "i"}}}}}}
}

func ru(unavailable, surge string) *appsv1.RollingUpdateDaemonSet {
	u, s := intstr.Parse(unavailable), intstr.Parse(surge)
	return &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &u, MaxSurge: &s}
}

func input(nodes []*v1.Node, pods ...*v1.Pod) plan.Input {
	byNode := map[string][]*v1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	return plan.Input{Nodes: nodes, PodsByNode: byNode, Placement: placement.New(ds()), Hash: "new", Now: now}
}

func names(pods []*v1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name              string
		ru                *appsv1.RollingUpdateDaemonSet
		desired           int
		surge, unavailble int
	}{
		{"defaults", nil, 10, 0, 1},
		{"integers", ru("3", "0"), 10, 0, 3},
		{"percent rounds up", ru("30%", "0"), 10, 0, 3},
		{"percent rounds up from a fraction", ru("25%", "0"), 10, 0, 3},
		{"small percent is at least one", ru("1%", "0"), 10, 0, 1},
		{"surge percent rounds up", ru("0", "15%"), 10, 2, 0},
		{"zero and zero falls back to one unavailable", ru("0", "0"), 10, 0, 1},
		{"no nodes", ru("0", "0"), 0, 0, 0},
		{"more than desired", ru("20", "0"), 10, 0, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Limits(tc.ru, tc.desired)
			if err != nil {
				t.Fatal(err)
			}
			if b.MaxSurge != tc.surge || b.MaxUnavailable != tc.unavailble || b.Desired != tc.desired {
				t.Fatalf("got %+v, want surge %d unavailable %d", b, tc.surge, tc.unavailble)
			}
		})
	}
	bad := intstr.FromString("lots")
	if _, err := Limits(&appsv1.RollingUpdateDaemonSet{MaxUnavailable: &bad}, 3); err == nil {
		t.Fatal("want an error for an invalid maxUnavailable")
	}
}

func TestWithinUnavailable(t *testing.T) {
	n := []*v1.Node{readyNode("a"), readyNode("b"), readyNode("c"), readyNode("d")}
	cases := []struct {
		name       string
		nodes      []*v1.Node
		pods       []*v1.Pod
		ru         *appsv1.RollingUpdateDaemonSet
		minReady   int32
		wantDelete []string
	}{
		{"all old, one at a time", n,
			[]*v1.Pod{pod("a1", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 0, []string{"a1"}},
		{"50% of 4 is two", n,
			[]*v1.Pod{pod("a1", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("50%", "0"), 0, []string{"a1", "b1"}},
		{"a new pod not yet ready uses the budget", n,
			[]*v1.Pod{pod("a2", "a", "new", -1), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 0, nil},
		{"a node waiting for its new pod uses the budget", n,
			[]*v1.Pod{pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 0, nil},
		{"a new pod ready but not for minReadySeconds uses the budget", n,
			[]*v1.Pod{pod("a2", "a", "new", 2*time.Second), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 5, nil},
		{"a new pod available after minReadySeconds frees the budget", n,
			[]*v1.Pod{pod("a2", "a", "new", 6*time.Second), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 5, []string{"b1"}},
		{"unavailable old pods are replaced at once, beyond the budget", n,
			[]*v1.Pod{pod("a1", "a", "old", -1), pod("b1", "b", "old", -1), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("1", "0"), 0, []string{"a1", "b1"}},
		{"pods on not-ready nodes go first",
			[]*v1.Node{readyNode("a"), readyNode("b"), notReadyNode("c")},
			[]*v1.Pod{pod("a1", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour)},
			ru("1", "0"), 0, []string{"c1"}},
		{"done", n,
			[]*v1.Pod{pod("a2", "a", "new", time.Hour), pod("b2", "b", "new", time.Hour), pod("c2", "c", "new", time.Hour), pod("d2", "d", "new", time.Hour)},
			ru("1", "0"), 0, nil},
		{"duplicates are left to the main plan and count as unavailable", n,
			[]*v1.Pod{pod("a1", "a", "old", time.Hour), pod("a3", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour)},
			ru("1", "0"), 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(tc.nodes, tc.pods...)
			in.MinReadySeconds = tc.minReady
			p, err := RollingUpdate(in, tc.ru, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p.Delete); !reflect.DeepEqual(got, sorted(append([]string{}, tc.wantDelete...))) {
				t.Errorf("delete %v, want %v", got, tc.wantDelete)
			}
			if len(p.CreateOn) != 0 {
				t.Errorf("without surge the main plan creates, got CreateOn %v", p.CreateOn)
			}
		})
	}
}

func TestWithinSurge(t *testing.T) {
	n := []*v1.Node{readyNode("a"), readyNode("b"), readyNode("c"), readyNode("d")}
	cases := []struct {
		name       string
		pods       []*v1.Pod
		ru         *appsv1.RollingUpdateDaemonSet
		minReady   int32
		wantCreate []string
		wantDelete []string
	}{
		{"surge two", []*v1.Pod{pod("a1", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("0", "2"), 0, []string{"a", "b"}, nil},
		{"surging nodes use the budget", []*v1.Pod{pod("a1", "a", "old", time.Hour), pod("a2", "a", "new", -1), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("0", "1"), 0, nil, nil},
		{"an available new pod retires the old one", []*v1.Pod{pod("a1", "a", "old", time.Hour), pod("a2", "a", "new", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour)},
			ru("0", "1"), 0, []string{"b"}, []string{"a1"}},
		{"minReadySeconds holds the old pod", []*v1.Pod{pod("a1", "a", "old", time.Hour), pod("a2", "a", "new", 2*time.Second), pod("b1", "b", "old", time.Hour)},
			ru("0", "1"), 5, nil, nil},
		{"an unavailable old pod is replaced beyond the budget", []*v1.Pod{pod("a1", "a", "old", -1), pod("b1", "b", "old", -1), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("0", "1"), 0, []string{"a", "b", "c"}, nil},
		{"25% of 4 rounds to one", []*v1.Pod{pod("a1", "a", "old", time.Hour), pod("b1", "b", "old", time.Hour), pod("c1", "c", "old", time.Hour), pod("d1", "d", "old", time.Hour)},
			ru("0", "25%"), 0, []string{"a"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(n, tc.pods...)
			in.MinReadySeconds = tc.minReady
			p, err := RollingUpdate(in, tc.ru, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sorted(p.CreateOn); !reflect.DeepEqual(got, sorted(tc.wantCreate)) {
				t.Errorf("create on %v, want %v", got, tc.wantCreate)
			}
			if got := names(p.Delete); !reflect.DeepEqual(got, sorted(tc.wantDelete)) {
				t.Errorf("delete %v, want %v", got, tc.wantDelete)
			}
		})
	}
}

func TestSurgeOffNodesThatShouldNotRun(t *testing.T) {
	// Node b no longer matches: its available old pod goes only once the
	// rest are available, so availability never drops below desired.
	d := ds()
	d.Spec.Template.Spec.NodeSelector = map[string]string{"run": "yes"}
	a, b := readyNode("a"), readyNode("b")
	a.Labels = map[string]string{"run": "yes"}
	in := input([]*v1.Node{a, b}, pod("a2", "a", "new", -1), pod("b1", "b", "old", time.Hour))
	in.Placement = placement.New(d)
	p, err := RollingUpdate(in, ru("0", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Delete) != 0 {
		t.Fatalf("deleted %v while the replacement is not available", names(p.Delete))
	}
	in = input([]*v1.Node{a, b}, pod("a2", "a", "new", time.Hour), pod("b1", "b", "old", time.Hour))
	in.Placement = placement.New(d)
	if p, _ = RollingUpdate(in, ru("0", "1"), nil); !reflect.DeepEqual(names(p.Delete), []string{"b1"}) {
		t.Fatalf("delete %v, want [b1]", names(p.Delete))
	}
}

func TestLegacyTemplateGenerationCountsAsUpdated(t *testing.T) {
	p1 := pod("a1", "a", "other", time.Hour)
	p1.Labels[plan.TemplateGenerationLabel] = "3"
	gen := int64(3)
	p, err := RollingUpdate(input([]*v1.Node{readyNode("a")}, p1), ru("1", "0"), &gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Delete) != 0 {
		t.Fatalf("a pod of the current template generation was deleted: %v", names(p.Delete))
	}
}

// TestNothingToUpdate: with every pod on the current template the plan is
// empty, whatever the strategy allows, and an unreadable strategy is still
// reported.
func TestNothingToUpdate(t *testing.T) {
	in := input([]*v1.Node{readyNode("a"), notReadyNode("b")},
		pod("pa", "a", "new", time.Hour), pod("pb", "b", "new", -1))
	for _, strategy := range []*appsv1.RollingUpdateDaemonSet{ru("1", "0"), ru("0", "1"), ru("100%", "0")} {
		p, err := RollingUpdate(in, strategy, nil)
		if err != nil || len(p.Delete) != 0 || len(p.CreateOn) != 0 {
			t.Errorf("strategy %v: plan %+v, err %v; want an empty plan", strategy, p, err)
		}
	}
	if _, err := RollingUpdate(in, ru("ten", "0"), nil); err == nil {
		t.Error("an unreadable maxUnavailable was not reported")
	}
}

// benchInput is 5,000 nodes with a kubelet's usual conditions (Ready
// last), each running a pod: updated ones on every updatedEvery-th node.
func benchInput(updatedEvery int) plan.Input {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := 0; i < 5000; i++ {
		name := "n" + strconv.Itoa(i)
		n := readyNode(name)
		n.Status.Conditions = append([]v1.NodeCondition{
			{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse}, {Type: v1.NodeDiskPressure, Status: v1.ConditionFalse},
			{Type: v1.NodePIDPressure, Status: v1.ConditionFalse}, {Type: v1.NodeNetworkUnavailable, Status: v1.ConditionFalse},
		}, n.Status.Conditions...)
		nodes = append(nodes, n)
		hash := "old"
		if i%updatedEvery == 0 {
			hash = "new"
		}
		pods = append(pods, pod("p"+strconv.Itoa(i), name, hash, time.Hour))
	}
	return input(nodes, pods...)
}

// BenchmarkRollingUpdate5000: a step of a maxUnavailable 10% rollout over
// 5,000 nodes, half of them updated.
func BenchmarkRollingUpdate5000(b *testing.B) {
	in := benchInput(2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := RollingUpdate(in, ru("10%", "0"), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRollingUpdateSettled5000: the planner on 5,000 nodes that all run
// the current template, as on every pod event outside an update.
func BenchmarkRollingUpdateSettled5000(b *testing.B) {
	in := benchInput(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := RollingUpdate(in, ru("10%", "0"), nil); err != nil {
			b.Fatal(err)
		}
	}
}
