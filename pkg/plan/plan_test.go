package plan

import (
	"reflect"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
)

const (
	newHash = "new"
	oldHash = "old"
)

// base is the reference time of every test: pods are created and become
// ready relative to it.
var base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// checker runs daemons on nodes labelled daemon=yes.
func checker() *placement.Checker {
	return placement.New(&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: v1.PodTemplateSpec{
		Spec: v1.PodSpec{NodeSelector: map[string]string{"daemon": "yes"}},
	}}})
}

// eligible is a node that should run the daemon.
func eligible(name string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"daemon": "yes"}}}
}

// ineligible is a node that must not run the daemon.
func ineligible(name string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// tainted is an eligible node with an untolerated taint of the given effect.
func tainted(name string, effect v1.TaintEffect) *v1.Node {
	n := eligible(name)
	n.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "x", Effect: effect}}
	return n
}

type podOpt func(*v1.Pod)

// pod is a Running pod bound to node, created at base+age, with the new hash.
func pod(name, node string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(base),
			Labels:            map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: newHash},
		},
		Spec:   v1.PodSpec{NodeName: node},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func created(offset time.Duration) podOpt {
	return func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(base.Add(offset)) }
}

// pending makes the pod unbound, targeting node through node affinity.
func pending(p *v1.Pod) {
	node := p.Spec.NodeName
	p.Spec.NodeName = ""
	p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
		}}},
	}}
}

func phase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }

func terminating(p *v1.Pod) {
	t := metav1.NewTime(base)
	p.DeletionTimestamp = &t
}

func hash(h string) podOpt {
	return func(p *v1.Pod) { p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = h }
}

// readySince makes the pod Ready from base+offset.
func readySince(offset time.Duration) podOpt {
	return func(p *v1.Pod) {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(base.Add(offset))}}
	}
}

func notReady(p *v1.Pod) {
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionFalse, LastTransitionTime: metav1.NewTime(base)}}
}

// byNode groups pods by TargetNode, as the controller does.
func byNode(pods ...*v1.Pod) map[string][]*v1.Pod {
	m := map[string][]*v1.Pod{}
	for _, p := range pods {
		m[TargetNode(p)] = append(m[TargetNode(p)], p)
	}
	return m
}

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

// want is a Plan by names; nil and empty are the same.
type want struct {
	create, delete, failed, succeeded, lost []string
}

func (w want) check(t *testing.T, p Plan) {
	t.Helper()
	eq := func(what string, got, want []string) {
		t.Helper()
		if len(got) == 0 && len(want) == 0 {
			return
		}
		w := append([]string(nil), want...)
		sort.Strings(w)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %v, want %v", what, got, w)
		}
	}
	create := append([]string(nil), p.CreateOn...)
	sort.Strings(create)
	eq("CreateOn", create, w.create)
	eq("Delete", names(p.Delete), w.delete)
	eq("Failed", names(p.Failed), w.failed)
	eq("Succeeded", names(p.Succeeded), w.succeeded)
	eq("Lost", names(p.Lost), w.lost)
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		surge bool
		min   int32
		want  want
	}{
		{
			name:  "create on eligible nodes without pods",
			nodes: []*v1.Node{eligible("a"), eligible("b"), eligible("c"), ineligible("d")},
			pods:  []*v1.Pod{pod("pa", "a")},
			want:  want{create: []string{"b", "c"}},
		},
		{
			name:  "pending pod counts as the node's pod",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("pa", "a", pending)},
		},
		{
			name:  "delete on ineligible node",
			nodes: []*v1.Node{ineligible("a")},
			pods:  []*v1.Pod{pod("pa1", "a"), pod("pa2", "a", pending), pod("pa3", "a", phase(v1.PodFailed))},
			want:  want{delete: []string{"pa1", "pa2", "pa3"}},
		},
		{
			name:  "untolerated NoExecute taint: delete",
			nodes: []*v1.Node{tainted("a", v1.TaintEffectNoExecute)},
			pods:  []*v1.Pod{pod("pa", "a")},
			want:  want{delete: []string{"pa"}},
		},
		{
			name:  "untolerated NoSchedule taint: keep, do not create",
			nodes: []*v1.Node{tainted("a", v1.TaintEffectNoSchedule), tainted("b", v1.TaintEffectNoSchedule)},
			pods:  []*v1.Pod{pod("pa", "a")},
		},
		{
			name:  "duplicates: keep the oldest",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("young", "a", created(time.Minute)), pod("old", "a"), pod("mid", "a", created(time.Second))},
			want:  want{delete: []string{"young", "mid"}},
		},
		{
			name:  "duplicates: a bound pod beats an older pending one",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("older-pending", "a", pending), pod("bound", "a", created(time.Minute))},
			want:  want{delete: []string{"older-pending"}},
		},
		{
			name:  "duplicates: same age, first name wins",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("b-pod", "a"), pod("a-pod", "a")},
			want:  want{delete: []string{"b-pod"}},
		},
		{
			name:  "failed pod is listed, not replaced in the same pass",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("pa", "a", phase(v1.PodFailed))},
			want:  want{failed: []string{"pa"}},
		},
		{
			name:  "failed pod beside a running one",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("failed", "a", phase(v1.PodFailed)), pod("running", "a", created(time.Minute))},
			want:  want{failed: []string{"failed"}},
		},
		{
			name:  "succeeded pod is listed",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("pa", "a", phase(v1.PodSucceeded))},
			want:  want{succeeded: []string{"pa"}},
		},
		{
			name:  "failed pod on NoSchedule-tainted node is still listed as failed",
			nodes: []*v1.Node{tainted("a", v1.TaintEffectNoSchedule)},
			pods:  []*v1.Pod{pod("pa", "a", phase(v1.PodFailed))},
			want:  want{failed: []string{"pa"}},
		},
		{
			name:  "terminating pod blocks creation and is not deleted",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("pa", "a", terminating)},
		},
		{
			name:  "terminating pod does not count as a duplicate",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("going", "a", terminating), pod("staying", "a", created(time.Minute))},
		},
		{
			name:  "terminating pod on ineligible node is not deleted again",
			nodes: []*v1.Node{ineligible("a")},
			pods:  []*v1.Pod{pod("going", "a", terminating), pod("live", "a")},
			want:  want{delete: []string{"live"}},
		},
		{
			name:  "unknown node: pending pod is deleted, bound pod is lost",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("pa", "a"), pod("pending", "gone", pending), pod("bound", "gone"), pod("going", "gone", terminating)},
			want:  want{delete: []string{"pending"}, lost: []string{"bound"}},
		},
		{
			name:  "no nodes at all",
			nodes: nil,
			pods:  []*v1.Pod{pod("bound", "x")},
			want:  want{lost: []string{"bound"}},
		},

		// Surge.
		{
			name:  "surge: old ready and new not yet ready: keep both",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old", "a", hash(oldHash), readySince(0)), pod("new", "a", created(time.Minute), notReady)},
			surge: true,
		},
		{
			name:  "surge: new available: delete old",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old", "a", hash(oldHash), readySince(0)), pod("new", "a", created(time.Minute), readySince(time.Minute))},
			surge: true,
			want:  want{delete: []string{"old"}},
		},
		{
			name:  "surge: new ready but not minReadySeconds long: keep both",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old", "a", hash(oldHash), readySince(0)), pod("new", "a", created(time.Minute), readySince(time.Minute))},
			surge: true,
			min:   3600,
		},
		{
			name:  "surge: old not ready: delete old even if new is not ready",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old", "a", hash(oldHash), notReady), pod("new", "a", created(time.Minute), notReady)},
			surge: true,
			want:  want{delete: []string{"old"}},
		},
		{
			name:  "surge: extra pods of each revision go",
			nodes: []*v1.Node{eligible("a")},
			pods: []*v1.Pod{
				pod("old1", "a", hash(oldHash), readySince(0)), pod("old2", "a", hash(oldHash), created(time.Second), readySince(0)),
				pod("new1", "a", created(time.Minute), notReady), pod("new2", "a", created(2*time.Minute), notReady),
			},
			surge: true,
			want:  want{delete: []string{"old2", "new2"}},
		},
		{
			name:  "surge: only old pods: keep the oldest",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old1", "a", hash(oldHash)), pod("old2", "a", hash(oldHash), created(time.Second))},
			surge: true,
			want:  want{delete: []string{"old2"}},
		},
		{
			name:  "surge: single pod of an old revision stays",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("old", "a", hash(oldHash))},
			surge: true,
		},
		{
			name:  "surge: only a terminating pod: create the replacement now",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("going", "a", terminating)},
			surge: true,
			want:  want{create: []string{"a"}},
		},
		{
			name:  "surge: only a terminating pod on a NoSchedule node: no create",
			nodes: []*v1.Node{tainted("a", v1.TaintEffectNoSchedule)},
			pods:  []*v1.Pod{pod("going", "a", terminating)},
			surge: true,
		},
		{
			name:  "surge: failed pod listed and replaced in the same pass",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("failed", "a", phase(v1.PodFailed))},
			surge: true,
			want:  want{failed: []string{"failed"}, create: []string{"a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{
				Nodes: tt.nodes, PodsByNode: byNode(tt.pods...), Placement: checker(),
				Hash: newHash, Surge: tt.surge, MinReadySeconds: tt.min, Now: base.Add(time.Hour),
			}
			tt.want.check(t, Compute(in))
		})
	}
}

func TestComputeCreateOnFollowsNodeOrder(t *testing.T) {
	nodes := []*v1.Node{eligible("c"), eligible("a"), eligible("b")}
	p := Compute(Input{Nodes: nodes, PodsByNode: map[string][]*v1.Pod{}, Placement: checker(), Now: base})
	if want := []string{"c", "a", "b"}; !reflect.DeepEqual(p.CreateOn, want) {
		t.Errorf("CreateOn = %v, want %v", p.CreateOn, want)
	}
}

func TestComputeLostIsSortedByNode(t *testing.T) {
	pods := byNode(pod("z", "zz"), pod("a", "aa"), pod("m", "mm"))
	for i := 0; i < 10; i++ { // map order varies from run to run
		p := Compute(Input{PodsByNode: pods, Placement: checker(), Now: base})
		var got []string
		for _, pod := range p.Lost {
			got = append(got, pod.Name)
		}
		if want := []string{"a", "m", "z"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Lost = %v, want %v", got, want)
		}
	}
}

func TestStatus(t *testing.T) {
	gen := int64(7)
	genLabel := func(g string) podOpt {
		return func(p *v1.Pod) {
			delete(p.Labels, appsv1.DefaultDaemonSetUniqueLabelKey)
			p.Labels[TemplateGenerationLabel] = g
		}
	}
	now := base.Add(time.Hour)
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		min   int32
		gen   *int64
		want  Counts
	}{
		{name: "nothing"},
		{
			name:  "desired and current",
			nodes: []*v1.Node{eligible("a"), eligible("b"), ineligible("c")},
			pods:  []*v1.Pod{pod("pa", "a", notReady)},
			want:  Counts{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 2},
		},
		{
			name:  "misscheduled: pods where none should run",
			nodes: []*v1.Node{ineligible("a"), tainted("b", v1.TaintEffectNoSchedule), tainted("c", v1.TaintEffectNoExecute), ineligible("d")},
			pods:  []*v1.Pod{pod("pa", "a"), pod("pb", "b"), pod("pc", "c")},
			want:  Counts{NumberMisscheduled: 3},
		},
		{
			name:  "ready and available without minReadySeconds",
			nodes: []*v1.Node{eligible("a"), eligible("b")},
			pods:  []*v1.Pod{pod("pa", "a", readySince(59*time.Minute)), pod("pb", "b", notReady)},
			want:  Counts{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1, UpdatedNumberScheduled: 2, NumberAvailable: 1, NumberUnavailable: 1},
		},
		{
			name:  "minReadySeconds: ready pods become available only after it",
			nodes: []*v1.Node{eligible("a"), eligible("b"), eligible("c")},
			pods: []*v1.Pod{
				pod("long", "a", readySince(0)),              // ready for 1h
				pod("edge", "b", readySince(59*time.Minute)), // ready for exactly 60s
				pod("fresh", "c", readySince(59*time.Minute+30*time.Second)),
			},
			min:  60,
			want: Counts{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberUnavailable: 1},
		},
		{
			name:  "updated by hash or by template generation",
			nodes: []*v1.Node{eligible("a"), eligible("b"), eligible("c"), eligible("d")},
			pods: []*v1.Pod{
				pod("by-hash", "a"),
				pod("old", "b", hash(oldHash)),
				pod("by-gen", "c", genLabel("7")),
				pod("old-gen", "d", genLabel("6")),
			},
			gen:  &gen,
			want: Counts{DesiredNumberScheduled: 4, CurrentNumberScheduled: 4, UpdatedNumberScheduled: 2, NumberUnavailable: 4},
		},
		{
			name:  "template generation unknown: only the hash counts",
			nodes: []*v1.Node{eligible("a"), eligible("b")},
			pods:  []*v1.Pod{pod("by-hash", "a"), pod("by-gen", "b", genLabel("7"))},
			want:  Counts{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberUnavailable: 2},
		},
		{
			name:  "the oldest pod on a node counts",
			nodes: []*v1.Node{eligible("a")},
			pods: []*v1.Pod{
				pod("young", "a", created(time.Minute), readySince(time.Minute)),
				pod("old", "a", hash(oldHash), notReady),
			},
			want: Counts{DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberUnavailable: 1},
		},
		{
			name:  "terminating and failed pods still make a node current",
			nodes: []*v1.Node{eligible("a"), eligible("b")},
			pods:  []*v1.Pod{pod("going", "a", terminating), pod("failed", "b", phase(v1.PodFailed))},
			want:  Counts{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberUnavailable: 2},
		},
		{
			name:  "pods on unknown nodes are not counted",
			nodes: []*v1.Node{eligible("a")},
			pods:  []*v1.Pod{pod("lost", "gone", readySince(0))},
			want:  Counts{DesiredNumberScheduled: 1, NumberUnavailable: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Nodes: tt.nodes, PodsByNode: byNode(tt.pods...), Placement: checker(), Hash: newHash, MinReadySeconds: tt.min, Now: now}
			if got := Status(in, tt.gen); got != tt.want {
				t.Errorf("Status() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestStatusDoesNotReorderInput(t *testing.T) {
	pods := []*v1.Pod{pod("young", "a", created(time.Minute)), pod("old", "a")}
	in := Input{Nodes: []*v1.Node{eligible("a")}, PodsByNode: map[string][]*v1.Pod{"a": pods}, Placement: checker(), Now: base}
	Status(in, nil)
	if pods[0].Name != "young" {
		t.Errorf("Status reordered the caller's slice: %v", names(pods))
	}
}

// TestComputeDoesNotReorderInput: duplicates are sorted on a copy, in
// both the plain and the surging plan: the caller's slices may be views of
// one another.
func TestComputeDoesNotReorderInput(t *testing.T) {
	for _, surge := range []bool{false, true} {
		pods := []*v1.Pod{pod("young", "a", created(time.Minute)), pod("old", "a")}
		in := Input{Nodes: []*v1.Node{eligible("a")}, PodsByNode: map[string][]*v1.Pod{"a": pods}, Placement: checker(),
			Now: base, Surge: surge}
		Compute(in)
		if pods[0].Name != "young" {
			t.Errorf("surge %v: Compute reordered the caller's slice: %v", surge, names(pods))
		}
	}
}

func TestIsUpdated(t *testing.T) {
	gen := int64(3)
	p := pod("p", "a", hash("h1"))
	p.Labels[TemplateGenerationLabel] = "3"
	tests := []struct {
		name string
		hash string
		gen  *int64
		want bool
	}{
		{"hash matches", "h1", nil, true},
		{"hash differs", "h2", nil, false},
		{"generation matches", "h2", &gen, true},
		{"empty hash never matches", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUpdated(p, tt.hash, tt.gen); got != tt.want {
				t.Errorf("IsUpdated() = %v, want %v", got, tt.want)
			}
		})
	}
	noLabel := pod("q", "a")
	delete(noLabel.Labels, appsv1.DefaultDaemonSetUniqueLabelKey)
	if IsUpdated(noLabel, "", nil) {
		t.Error("a pod without hash label is updated for an empty hash")
	}
}

func TestTargetNode(t *testing.T) {
	affinity := func(terms ...v1.NodeSelectorTerm) podOpt {
		return func(p *v1.Pod) {
			p.Spec.NodeName = ""
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms},
			}}
		}
	}
	fieldTerm := func(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
		return v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want string
	}{
		{"bound", pod("p", "n1"), "n1"},
		{"bound wins over affinity", pod("p", "n1", func(p *v1.Pod) {
			affinity(fieldTerm("metadata.name", v1.NodeSelectorOpIn, "n2"))(p)
			p.Spec.NodeName = "n1"
		}), "n1"},
		{"pending with node affinity", pod("p", "", affinity(fieldTerm("metadata.name", v1.NodeSelectorOpIn, "n2"))), "n2"},
		{"found in a later term", pod("p", "", affinity(
			v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpExists}}},
			fieldTerm("metadata.name", v1.NodeSelectorOpIn, "n3"),
		)), "n3"},
		{"NotIn names no node", pod("p", "", affinity(fieldTerm("metadata.name", v1.NodeSelectorOpNotIn, "n2"))), ""},
		{"several values name no single node", pod("p", "", affinity(fieldTerm("metadata.name", v1.NodeSelectorOpIn, "n1", "n2"))), ""},
		{"other field", pod("p", "", affinity(fieldTerm("metadata.uid", v1.NodeSelectorOpIn, "n1"))), ""},
		{"no affinity", pod("p", ""), ""},
		{"affinity without node affinity", pod("p", "", func(p *v1.Pod) { p.Spec.Affinity = &v1.Affinity{} }), ""},
		{"node affinity without required part", pod("p", "", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{}}
		}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetNode(tt.pod); got != tt.want {
				t.Errorf("TargetNode() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsReadyAndAvailable(t *testing.T) {
	now := base.Add(time.Minute)
	tests := []struct {
		name      string
		pod       *v1.Pod
		min       int32
		ready     bool
		available bool
	}{
		{"no conditions", pod("p", "a"), 0, false, false},
		{"ready false", pod("p", "a", notReady), 0, false, false},
		{"ready, no minReadySeconds", pod("p", "a", readySince(time.Minute)), 0, true, true},
		{"ready for longer than minReadySeconds", pod("p", "a", readySince(0)), 30, true, true},
		{"ready for exactly minReadySeconds", pod("p", "a", readySince(0)), 60, true, true},
		{"ready for less than minReadySeconds", pod("p", "a", readySince(0)), 61, true, false},
		{"ready with unknown transition time", pod("p", "a", func(p *v1.Pod) {
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
		}), 10, true, false},
		{"other conditions only", pod("p", "a", func(p *v1.Pod) {
			p.Status.Conditions = []v1.PodCondition{{Type: v1.ContainersReady, Status: v1.ConditionTrue}}
		}), 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsReady(tt.pod); got != tt.ready {
				t.Errorf("IsReady() = %v, want %v", got, tt.ready)
			}
			if got := IsAvailable(tt.pod, tt.min, now); got != tt.available {
				t.Errorf("IsAvailable(min=%d) = %v, want %v", tt.min, got, tt.available)
			}
		})
	}
}

func TestSortOldestFirst(t *testing.T) {
	pods := []*v1.Pod{
		pod("pending-old", "a", pending, created(-time.Hour)),
		pod("b", "a", created(time.Minute)),
		pod("a", "a", created(time.Minute)),
		pod("oldest", "a"),
		pod("pending-new", "a", pending, created(time.Hour)),
	}
	oldest := Oldest(pods)
	SortOldestFirst(pods)
	if oldest != pods[0] {
		t.Errorf("Oldest = %s, SortOldestFirst puts %s first", oldest.Name, pods[0].Name)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
	}
	if want := []string{"oldest", "a", "b", "pending-old", "pending-new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}
