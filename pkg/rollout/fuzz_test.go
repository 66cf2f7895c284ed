package rollout

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// fuzzBytes hands out bytes of fuzz data, then zeros.
type fuzzBytes struct {
	data []byte
	pos  int
}

func (r *fuzzBytes) next() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

func (r *fuzzBytes) pick(n int) int { return int(r.next()) % n }

var (
	fuzzNow      = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fuzzHash     = "new"
	fuzzGen      = int64(3)
	fuzzSelector = map[string]string{"run": "yes"}
)

func intOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }

// fuzzStrategyValues are the maxUnavailable and maxSurge values the
// generator uses: absent, integers (0, small, beyond any node count,
// negative), percentages (0, rounding up, 100%, beyond 100%, negative) and
// strings that are not percentages.
var fuzzStrategyValues = []*intstr.IntOrString{
	nil,
	intOrString(intstr.FromInt32(0)),
	intOrString(intstr.FromInt32(1)),
	intOrString(intstr.FromInt32(2)),
	intOrString(intstr.FromInt32(3)),
	intOrString(intstr.FromInt32(100)),
	intOrString(intstr.FromInt32(-1)),
	intOrString(intstr.FromString("0%")),
	intOrString(intstr.FromString("1%")),
	intOrString(intstr.FromString("25%")),
	intOrString(intstr.FromString("50%")),
	intOrString(intstr.FromString("100%")),
	intOrString(intstr.FromString("150%")),
	intOrString(intstr.FromString("1000%")),
	intOrString(intstr.FromString("-10%")),
	intOrString(intstr.FromString("lots")),
	intOrString(intstr.FromString("10")),
	intOrString(intstr.FromString("1.5%")),
}

// fuzzNodeKinds: what a generated node is. The DaemonSet selects run=yes.
const (
	kindReady       = iota // eligible, Ready
	kindNotReady           // eligible, Ready=False (its pods are replaced first)
	kindNoCondition        // eligible, no Ready condition
	kindIneligible         // not selected
	kindNoSchedule         // eligible but tainted NoSchedule: keep, do not create
	kindNoExecute          // eligible but tainted NoExecute: nothing
	numKinds
)

func fuzzNode(name string, kind int) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"run": "yes"}}}
	ready := v1.ConditionTrue
	switch kind {
	case kindNotReady:
		ready = v1.ConditionFalse
	case kindIneligible:
		n.Labels = nil
	case kindNoSchedule:
		n.Spec.Taints = []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoSchedule}}
	case kindNoExecute:
		n.Spec.Taints = []v1.Taint{{Key: "dedicated", Effect: v1.TaintEffectNoExecute}}
	}
	if kind != kindNoCondition {
		n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: ready}}
	}
	return n
}

// fuzzPod builds pod name for node from two flag bytes.
//
// f1 % 6 is the revision: 0 the current hash; 1 and 2 old hashes; 3 no hash
// but the legacy template generation 3; 4 an old hash and generation 2;
// 5 no labels. f1 / 6 % 5 is readiness: 0 no condition, 1 Ready=False,
// 2 ready for an hour, 3 ready for 10s, 4 ready since an unknown time.
// f2 bit 0 makes it terminating, bits 1-2 the phase (Running, Pending,
// Failed, Succeeded), bit 3 leaves it unbound, bits 4-5 age it by seconds.
func fuzzPod(name, node string, f1, f2 byte) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", Labels: map[string]string{},
		CreationTimestamp: metav1.NewTime(fuzzNow.Add(-time.Hour - time.Duration(f2>>4&3)*time.Second)),
	}}
	switch f1 % 6 {
	case 0:
		p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = fuzzHash
	case 1:
		p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = "old"
	case 2:
		p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = "older"
	case 3:
		p.Labels[plan.TemplateGenerationLabel] = "3"
	case 4:
		p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = "old"
		p.Labels[plan.TemplateGenerationLabel] = "2"
	case 5:
		p.Labels = nil
	}
	switch f1 / 6 % 5 {
	case 1:
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionFalse}}
	case 2:
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(fuzzNow.Add(-time.Hour))}}
	case 3:
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(fuzzNow.Add(-10 * time.Second))}}
	case 4:
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	}
	if f2&1 != 0 {
		ts := metav1.NewTime(fuzzNow.Add(-time.Second))
		p.DeletionTimestamp = &ts
	}
	p.Status.Phase = []v1.PodPhase{v1.PodRunning, v1.PodPending, v1.PodFailed, v1.PodSucceeded}[f2>>1&3]
	if f2&8 == 0 {
		p.Spec.NodeName = node
	}
	return p
}

// fuzzRollout builds a rollout's input from data, in this order: a strategy
// byte (7 mod 8: no RollingUpdate at all), maxUnavailable and maxSurge
// (indexes into fuzzStrategyValues), minReadySeconds (mod 3: 0, 30s, 600s),
// the template generation (mod 3: none, 3, 2), the node count (mod 7) and
// each node's kind (mod numKinds), the pod count (mod 15) and for each pod
// its target (a node, or one of two that are gone) and its two flag bytes.
func fuzzRollout(data []byte) (plan.Input, *appsv1.RollingUpdateDaemonSet, *int64) {
	r := &fuzzBytes{data: data}
	var ru *appsv1.RollingUpdateDaemonSet
	if r.next()%8 != 7 {
		ru = &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: fuzzStrategyValues[r.pick(len(fuzzStrategyValues))],
			MaxSurge:       fuzzStrategyValues[r.pick(len(fuzzStrategyValues))],
		}
	}
	minReady := []int32{0, 30, 600}[r.pick(3)]
	var gen *int64
	switch r.pick(3) {
	case 1:
		gen = &fuzzGen
	case 2:
		g := int64(2)
		gen = &g
	}
	var nodes []*v1.Node
	for i := range r.pick(7) {
		nodes = append(nodes, fuzzNode(fmt.Sprintf("n%d", i), r.pick(numKinds)))
	}
	byNode := map[string][]*v1.Pod{}
	for i := range r.pick(15) {
		target := r.pick(len(nodes) + 2)
		name := fmt.Sprintf("gone%d", target-len(nodes))
		if target < len(nodes) {
			name = nodes[target].Name
		}
		f1, f2 := r.next(), r.next()
		byNode[name] = append(byNode[name], fuzzPod(fmt.Sprintf("p%d", i), name, f1, f2))
	}
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{
		NodeSelector: fuzzSelector, Containers: []v1.Container{{Name: "c", Image: "i"}},
	}}}}
	return plan.Input{
		Nodes: nodes, PodsByNode: byNode, Placement: placement.New(ds),
		Hash: fuzzHash, MinReadySeconds: minReady, Now: fuzzNow,
	}, ru, gen
}

// ---- An independent reading of each node's state.

// fuzzUpdated: the pod carries the current hash, or the current legacy
// template generation.
func fuzzUpdated(p *v1.Pod, hash string, gen *int64) bool {
	if hash != "" && p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	return gen != nil && p.Labels[plan.TemplateGenerationLabel] == strconv.FormatInt(*gen, 10)
}

// fuzzAvailable: Ready=True, and for minReadySeconds > 0 ready since a known
// time at least that long ago.
func fuzzAvailable(p *v1.Pod, minReady int32, now time.Time) bool {
	for _, c := range p.Status.Conditions {
		if c.Type != v1.PodReady {
			continue
		}
		if c.Status != v1.ConditionTrue {
			return false
		}
		if minReady == 0 {
			return true
		}
		return !c.LastTransitionTime.IsZero() && !now.Before(c.LastTransitionTime.Add(time.Duration(minReady)*time.Second))
	}
	return false
}

type fuzzNodeState struct {
	name       string
	obj        *v1.Node // nil: gone
	shouldRun  bool     // a known node that should run a new pod
	ready      bool
	news, olds []*v1.Pod // live (not terminating) pods
}

func (s *fuzzNodeState) ok() bool { return len(s.news) <= 1 && len(s.olds) <= 1 }

// before orders nodes as the rollout promises to work through them: nodes
// that are not ready first, then by name.
func (s *fuzzNodeState) before(o *fuzzNodeState) bool {
	if s.ready != o.ready {
		return !s.ready
	}
	return s.name < o.name
}

// fuzzStates: every known node that should run the DaemonSet, and every
// node, known or gone, that has its pods. It returns them by name, sorted,
// and the number of nodes that should run it.
func fuzzStates(in plan.Input, gen *int64) ([]*fuzzNodeState, int) {
	states := map[string]*fuzzNodeState{}
	desired := 0
	for _, n := range in.Nodes {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				ready = c.Status == v1.ConditionTrue
			}
		}
		s := &fuzzNodeState{name: n.Name, obj: n, shouldRun: in.Placement.Check(n).ShouldRun, ready: ready}
		if s.shouldRun {
			desired++
		}
		states[n.Name] = s
	}
	var out []*fuzzNodeState
	for name, s := range states {
		if _, has := in.PodsByNode[name]; !s.shouldRun && !has {
			delete(states, name)
		}
	}
	for name, pods := range in.PodsByNode {
		s := states[name]
		if s == nil {
			s = &fuzzNodeState{name: name}
			states[name] = s
		}
		for _, p := range pods {
			switch {
			case p.DeletionTimestamp != nil:
			case fuzzUpdated(p, in.Hash, gen):
				s.news = append(s.news, p)
			default:
				s.olds = append(s.olds, p)
			}
		}
	}
	for _, s := range states {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *fuzzNodeState) int { return strings.Compare(a.name, b.name) })
	return out, desired
}

// checkPrefix fails unless the chosen states are the first ones of all in
// the rollout's order: not-ready nodes first, then by name.
func checkPrefix(t *testing.T, what string, all []*fuzzNodeState, chosen func(*fuzzNodeState) bool) {
	t.Helper()
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *fuzzNodeState) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	})
	for i := 1; i < len(sorted); i++ {
		if chosen(sorted[i]) && !chosen(sorted[i-1]) {
			t.Fatalf("%s: node %s was chosen before node %s (not-ready nodes first, then by name)", what, sorted[i].name, sorted[i-1].name)
		}
	}
}

func podList(pods []*v1.Pod) string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func describeStates(states []*fuzzNodeState, minReady int32) string {
	var b strings.Builder
	for _, s := range states {
		fmt.Fprintf(&b, "\n  %s known=%v shouldRun=%v ready=%v new=", s.name, s.obj != nil, s.shouldRun, s.ready)
		for _, p := range s.news {
			fmt.Fprintf(&b, "%s(avail=%v) ", p.Name, fuzzAvailable(p, minReady, fuzzNow))
		}
		b.WriteString("old=")
		for _, p := range s.olds {
			fmt.Fprintf(&b, "%s(avail=%v) ", p.Name, fuzzAvailable(p, minReady, fuzzNow))
		}
	}
	return b.String()
}

func planEqual(a, b Plan) bool {
	return slices.Equal(a.Delete, b.Delete) && slices.Equal(a.CreateOn, b.CreateOn)
}

// FuzzRollingUpdate checks RollingUpdate on generated clusters against the
// invariants its doc comments and upstream's rollingUpdate promise. With
// U = nodes that count as unavailable (duplicates, no live pod, an old and a
// new pod, a new pod not available, an old pod not available) and
// S = nodes that count as surging (duplicates, an old pod beside a new one
// not yet available), and the budget b = Limits(ru, desired):
//   - RollingUpdate fails exactly when Limits does, and then plans nothing;
//   - it does not modify its input, and the plan is the same when asked
//     again or with nodes and pods listed in another order;
//   - no pod or node is listed twice; only live pods of the input are
//     deleted, never one of the current revision (hash or legacy
//     generation); every pod deleted is the single old pod of a node with at
//     most one pod per revision; a node gets a new pod only if it is known,
//     should run one, has a single old pod that is not also deleted, and no
//     new one;
//   - maxSurge 0: nothing is created; every unavailable old pod is
//     replaced; of the available old pods exactly
//     min(max(maxUnavailable-U, 0), candidates) are deleted, so that
//     U + deleted ≤ max(maxUnavailable, U), not-ready nodes first, then by name;
//   - maxSurge ≠ 0: a node with an unavailable old pod gets a new pod if it
//     should run one, else loses the old pod; an old pod beside an available
//     new one is deleted, beside one not yet available kept; of the nodes
//     that should run and have an available old pod exactly
//     min(max(maxSurge-S, 0), candidates) get a new pod beside it, so
//     S + created ≤ max(maxSurge, S), in the same order; available old pods
//     on nodes that should not run are deleted only while the available
//     nodes stay at least desired (min(max(A-desired, 0), misplaced) of
//     them), and no available old pod is deleted otherwise.
func FuzzRollingUpdate(f *testing.F) {
	f.Add([]byte{})
	// maxUnavailable 1, four ready nodes each with an available old pod.
	f.Add([]byte{0, 2, 1, 0, 0, 4, 0, 0, 0, 0, 4, 0, 13, 0, 1, 13, 0, 2, 13, 0, 3, 13, 0})
	// maxUnavailable 50%, same cluster, and node n2 not ready.
	f.Add([]byte{0, 10, 1, 0, 0, 4, 0, 0, 1, 0, 4, 0, 13, 0, 1, 13, 0, 2, 13, 0, 3, 13, 0})
	// maxUnavailable 0 and maxSurge 0 fall back to one unavailable.
	f.Add([]byte{0, 1, 1, 0, 0, 2, 0, 0, 2, 0, 13, 0, 1, 13, 0})
	// maxSurge 2 (maxUnavailable 0): four available old pods; one node also
	// has a new pod not yet ready, one an available new pod.
	f.Add([]byte{0, 1, 3, 0, 0, 4, 0, 0, 0, 0, 6, 0, 13, 0, 1, 13, 0, 2, 13, 0, 3, 13, 0, 0, 0, 0, 1, 12, 0})
	// maxSurge 25%, minReadySeconds 30: a new pod ready for only 10s.
	f.Add([]byte{0, 1, 9, 1, 0, 3, 0, 0, 0, 4, 0, 13, 0, 0, 18, 0, 1, 13, 0, 2, 13, 0})
	// maxSurge 1: a node that no longer matches keeps its available old pod
	// until another node's new pod is available.
	f.Add([]byte{0, 1, 2, 0, 0, 2, 0, 3, 2, 0, 0, 0, 1, 13, 0})
	// ... and once it is, the misplaced old pod goes.
	f.Add([]byte{0, 1, 2, 0, 0, 2, 0, 3, 2, 0, 12, 0, 1, 13, 0})
	// Duplicates, terminating pods, gone nodes, an unbound pod, legacy
	// generation labels, maxUnavailable 150%.
	f.Add([]byte{0, 12, 0, 0, 1, 3, 0, 4, 5, 8, 0, 13, 0, 0, 13, 0, 1, 15, 1, 3, 13, 0, 4, 14, 0, 2, 3, 8, 1, 13, 16, 4, 19, 0})
	// maxSurge -1 and maxUnavailable -10%: Limits yields negative budgets.
	f.Add([]byte{0, 14, 6, 0, 0, 2, 0, 0, 2, 0, 13, 0, 1, 1, 0})
	// Invalid strategies.
	f.Add([]byte{0, 15, 0, 0, 0, 1, 0, 1, 0, 13, 0})
	f.Add([]byte{0, 0, 16, 0, 0, 1, 0, 1, 0, 13, 0})
	f.Add([]byte{7, 0, 0, 1, 0, 1, 0, 13, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, ru, gen := fuzzRollout(data)
		nodesBefore := make([]*v1.Node, len(in.Nodes))
		for i, n := range in.Nodes {
			nodesBefore[i] = n.DeepCopy()
		}
		podsBefore := map[string][]*v1.Pod{}
		inputNode := map[*v1.Pod]string{}
		for name, pods := range in.PodsByNode {
			for _, p := range pods {
				podsBefore[name] = append(podsBefore[name], p.DeepCopy())
				inputNode[p] = name
			}
		}

		states, desired := fuzzStates(in, gen)
		b, lerr := Limits(ru, desired)
		p, err := RollingUpdate(in, ru, gen)
		if (err != nil) != (lerr != nil) {
			t.Fatalf("RollingUpdate error %v, Limits error %v", err, lerr)
		}
		if err != nil {
			if len(p.Delete)+len(p.CreateOn) > 0 {
				t.Fatalf("RollingUpdate failed (%v) and still planned %+v", err, p)
			}
			return
		}
		if b.Desired != desired {
			t.Fatalf("Limits Desired = %d, want %d", b.Desired, desired)
		}

		for i, n := range in.Nodes {
			if !reflect.DeepEqual(n, nodesBefore[i]) {
				t.Fatalf("RollingUpdate modified node %s", n.Name)
			}
		}
		for name, pods := range in.PodsByNode {
			for i, pod := range pods {
				if !reflect.DeepEqual(pod, podsBefore[name][i]) {
					t.Fatalf("RollingUpdate modified pod %s", pod.Name)
				}
			}
		}
		if again, _ := RollingUpdate(in, ru, gen); !planEqual(again, p) {
			t.Fatalf("RollingUpdate is not deterministic: %v %v, then %v %v", podList(p.Delete), p.CreateOn, podList(again.Delete), again.CreateOn)
		}
		shuffled := in
		shuffled.Nodes = slices.Clone(in.Nodes)
		slices.Reverse(shuffled.Nodes)
		shuffled.PodsByNode = map[string][]*v1.Pod{}
		for name, pods := range in.PodsByNode {
			shuffled.PodsByNode[name] = slices.Clone(pods)
			slices.Reverse(shuffled.PodsByNode[name])
		}
		if other, _ := RollingUpdate(shuffled, ru, gen); !planEqual(other, p) {
			t.Fatalf("the plan depends on input order: %v %v, reversed %v %v", podList(p.Delete), p.CreateOn, podList(other.Delete), other.CreateOn)
		}

		ctx := func() string {
			return fmt.Sprintf("\nbudget %+v, minReadySeconds %d, plan delete %v create %v, nodes:%s",
				b, in.MinReadySeconds, podList(p.Delete), p.CreateOn, describeStates(states, in.MinReadySeconds))
		}
		byName := map[string]*fuzzNodeState{}
		for _, s := range states {
			byName[s.name] = s
		}
		deleted := map[*v1.Pod]bool{}
		for _, pod := range p.Delete {
			if deleted[pod] {
				t.Fatalf("pod %s deleted twice%s", pod.Name, ctx())
			}
			deleted[pod] = true
			name, ok := inputNode[pod]
			if !ok {
				t.Fatalf("deleting pod %s that is not in the input%s", pod.Name, ctx())
			}
			if pod.DeletionTimestamp != nil {
				t.Fatalf("deleting pod %s that is already terminating%s", pod.Name, ctx())
			}
			if fuzzUpdated(pod, in.Hash, gen) {
				t.Fatalf("deleting pod %s of the current revision%s", pod.Name, ctx())
			}
			if s := byName[name]; !s.ok() || len(s.olds) != 1 || s.olds[0] != pod {
				t.Fatalf("deleting pod %s, which is not the single old pod on node %s%s", pod.Name, name, ctx())
			}
		}
		created := map[string]bool{}
		for _, name := range p.CreateOn {
			if created[name] {
				t.Fatalf("node %s gets two new pods%s", name, ctx())
			}
			created[name] = true
			s := byName[name]
			switch {
			case s == nil || s.obj == nil:
				t.Fatalf("creating on node %s, which is unknown or gone%s", name, ctx())
			case !s.shouldRun:
				t.Fatalf("creating on node %s, which should not run a new pod%s", name, ctx())
			case !s.ok() || len(s.news) != 0 || len(s.olds) != 1:
				t.Fatalf("creating on node %s, which has not exactly one old pod and no new one%s", name, ctx())
			case deleted[s.olds[0]]:
				t.Fatalf("creating on node %s and deleting its old pod in the same step%s", name, ctx())
			}
		}
		oldDeleted := func(s *fuzzNodeState) bool { return len(s.olds) == 1 && deleted[s.olds[0]] }
		avail := func(pod *v1.Pod) bool { return fuzzAvailable(pod, in.MinReadySeconds, in.Now) }

		if b.MaxSurge == 0 {
			if len(p.CreateOn) != 0 {
				t.Fatalf("maxSurge 0 but creating on %v%s", p.CreateOn, ctx())
			}
			unavailable := 0
			var candidates []*fuzzNodeState
			for _, s := range states {
				switch {
				case !s.ok(), len(s.olds) == 0 && len(s.news) == 0, len(s.olds) == 1 && len(s.news) == 1:
					unavailable++
				case len(s.news) == 1:
					if !avail(s.news[0]) {
						unavailable++
					}
				case !avail(s.olds[0]):
					unavailable++
					if !oldDeleted(s) {
						t.Fatalf("old pod %s is unavailable and not replaced%s", s.olds[0].Name, ctx())
					}
				default:
					candidates = append(candidates, s)
				}
			}
			chosen := 0
			for _, s := range candidates {
				if oldDeleted(s) {
					chosen++
				}
			}
			if want := min(max(b.MaxUnavailable-unavailable, 0), len(candidates)); chosen != want {
				t.Fatalf("deleting %d available old pods with %d nodes unavailable, want %d%s", chosen, unavailable, want, ctx())
			}
			if unavailable+chosen > max(b.MaxUnavailable, unavailable) {
				t.Fatalf("%d nodes would be unavailable, budget %d%s", unavailable+chosen, b.MaxUnavailable, ctx())
			}
			checkPrefix(t, "deleting available old pods", candidates, oldDeleted)
			return
		}

		surging, available := 0, 0
		var candidates, misplaced []*fuzzNodeState
		for _, s := range states {
			if !s.ok() {
				surging++
				continue
			}
			if (len(s.olds) == 1 && avail(s.olds[0])) || (len(s.olds) == 0 && len(s.news) == 1 && avail(s.news[0])) {
				available++
			}
			switch {
			case len(s.olds) == 0:
			case len(s.news) == 0:
				switch {
				case !avail(s.olds[0]) && s.shouldRun:
					if !created[s.name] {
						t.Fatalf("node %s with unavailable old pod %s gets no new pod%s", s.name, s.olds[0].Name, ctx())
					}
				case !avail(s.olds[0]):
					if !oldDeleted(s) {
						t.Fatalf("unavailable old pod %s on node %s that should not run it is kept%s", s.olds[0].Name, s.name, ctx())
					}
				case !s.shouldRun:
					misplaced = append(misplaced, s)
				default:
					candidates = append(candidates, s)
				}
			case !avail(s.news[0]):
				surging++
				if oldDeleted(s) {
					t.Fatalf("old pod %s deleted before new pod %s is available%s", s.olds[0].Name, s.news[0].Name, ctx())
				}
			default:
				if !oldDeleted(s) {
					t.Fatalf("old pod %s kept beside available new pod %s%s", s.olds[0].Name, s.news[0].Name, ctx())
				}
			}
		}
		chosen := 0
		for _, s := range candidates {
			if oldDeleted(s) {
				t.Fatalf("available old pod %s deleted without a replacement%s", s.olds[0].Name, ctx())
			}
			if created[s.name] {
				chosen++
			}
		}
		if want := min(max(b.MaxSurge-surging, 0), len(candidates)); chosen != want {
			t.Fatalf("surging onto %d nodes with %d surging, want %d%s", chosen, surging, want, ctx())
		}
		if surging+chosen > max(b.MaxSurge, surging) {
			t.Fatalf("%d nodes would be surging, budget %d%s", surging+chosen, b.MaxSurge, ctx())
		}
		checkPrefix(t, "surging", candidates, func(s *fuzzNodeState) bool { return created[s.name] })

		gone := 0
		for _, s := range misplaced {
			if created[s.name] {
				t.Fatalf("creating on node %s that should not run a pod%s", s.name, ctx())
			}
			if oldDeleted(s) {
				gone++
			}
		}
		if want := min(max(available-desired, 0), len(misplaced)); gone != want {
			t.Fatalf("deleting %d available pods on nodes that should not run them, %d available of %d desired: want %d%s",
				gone, available, desired, want, ctx())
		}
		if available-gone < min(available, desired) {
			t.Fatalf("availability drops to %d of %d desired%s", available-gone, desired, ctx())
		}
		checkPrefix(t, "deleting misplaced pods", misplaced, oldDeleted)
	})
}

// FuzzLimits checks the budget a strategy scales to. kinds pick each
// value: 0 absent, 1 the integer, 2 the string, 3 a value of an unknown
// type; noStrategy drops the RollingUpdate altogether.
//   - Limits never panics and answers the same twice;
//   - every value it accepts gives a budget of at least zero each way,
//     and of at least one node in all when there are nodes, as its doc
//     comment promises ("falls back to one unavailable node so that updates
//     still progress");
//   - valid values scale exactly: an integer n ≥ 0 to n, a percentage p of
//     0..100 to ceil(p × desired / 100), never more than desired; absent
//     values default to maxUnavailable 1 and maxSurge 0;
//   - a string that is not an integer followed by '%', or a value of unknown
//     type, is an error.
func FuzzLimits(f *testing.F) {
	f.Add(false, uint8(1), int32(1), "", uint8(1), int32(0), "", uint16(10))
	f.Add(false, uint8(2), int32(0), "25%", uint8(1), int32(0), "", uint16(10))
	f.Add(false, uint8(1), int32(0), "", uint8(2), int32(0), "15%", uint16(10))
	f.Add(false, uint8(1), int32(0), "", uint8(1), int32(0), "", uint16(10))
	f.Add(false, uint8(1), int32(0), "", uint8(1), int32(0), "", uint16(0))
	f.Add(false, uint8(2), int32(0), "100%", uint8(2), int32(0), "0%", uint16(7))
	f.Add(false, uint8(1), int32(20), "", uint8(0), int32(0), "", uint16(10))
	f.Add(false, uint8(0), int32(0), "", uint8(0), int32(0), "", uint16(3))
	f.Add(true, uint8(0), int32(0), "", uint8(0), int32(0), "", uint16(3))
	f.Add(false, uint8(2), int32(0), "lots", uint8(1), int32(0), "", uint16(3))
	f.Add(false, uint8(1), int32(0), "", uint8(2), int32(0), "10", uint16(3))
	f.Add(false, uint8(2), int32(0), "150%", uint8(2), int32(0), "1000%", uint16(3))
	f.Add(false, uint8(3), int32(0), "", uint8(1), int32(0), "", uint16(3))
	f.Fuzz(func(t *testing.T, noStrategy bool, uKind uint8, uInt int32, uStr string, sKind uint8, sInt int32, sStr string, desired16 uint16) {
		desired := int(desired16)
		value := func(kind uint8, i int32, s string) *intstr.IntOrString {
			switch kind % 4 {
			case 1:
				return intOrString(intstr.FromInt32(i))
			case 2:
				return intOrString(intstr.FromString(s))
			case 3:
				return &intstr.IntOrString{Type: intstr.Type(2 + kind/4%8), IntVal: i, StrVal: s}
			}
			return nil
		}
		var ru *appsv1.RollingUpdateDaemonSet
		if !noStrategy {
			ru = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: value(uKind, uInt, uStr), MaxSurge: value(sKind, sInt, sStr)}
		}
		b, err := Limits(ru, desired)
		b2, err2 := Limits(ru, desired)
		if b != b2 || (err == nil) != (err2 == nil) {
			t.Fatalf("Limits is not deterministic: %+v %v, then %+v %v", b, err, b2, err2)
		}

		// scale is the reference: the value a valid setting scales to, or
		// ok=false when the setting is invalid or outside what the API allows
		// (negative, beyond 100%, or too large to scale).
		scale := func(v *intstr.IntOrString, absent int) (n int, valid, ok bool) {
			if v == nil {
				return absent, true, true
			}
			switch v.Type {
			case intstr.Int:
				return int(v.IntVal), true, v.IntVal >= 0
			case intstr.String:
				digits, isPercent := strings.CutSuffix(v.StrVal, "%")
				p, perr := strconv.Atoi(digits)
				if !isPercent || perr != nil {
					return 0, false, false
				}
				if p < 0 || p > 100 {
					return 0, true, false
				}
				return (p*desired + 99) / 100, true, true
			}
			return 0, false, false
		}
		var mu, ms *intstr.IntOrString
		if ru != nil {
			mu, ms = ru.MaxUnavailable, ru.MaxSurge
		}
		wantU, validU, okU := scale(mu, 1)
		wantS, validS, okS := scale(ms, 0)
		if !validU || !validS {
			if err == nil {
				t.Fatalf("Limits(%v, %v, %d) = %+v, want an error", mu, ms, desired, b)
			}
			return
		}
		if err != nil {
			// Out-of-range values may be refused, but not well-formed valid ones.
			if okU && okS {
				t.Fatalf("Limits(%v, %v, %d): unexpected error %v", mu, ms, desired, err)
			}
			return
		}
		if b.Desired != desired {
			t.Fatalf("Desired = %d, want %d", b.Desired, desired)
		}
		if b.MaxUnavailable < 0 || b.MaxSurge < 0 {
			t.Fatalf("Limits(maxUnavailable %v, maxSurge %v, desired %d) = %+v: a negative budget", fmtIntOrString(mu), fmtIntOrString(ms), desired, b)
		}
		if desired > 0 && b.MaxUnavailable+b.MaxSurge < 1 {
			t.Fatalf("Limits(maxUnavailable %v, maxSurge %v, desired %d) = %+v: a rollout could never progress", fmtIntOrString(mu), fmtIntOrString(ms), desired, b)
		}
		if okS && b.MaxSurge != wantS {
			t.Fatalf("Limits(maxSurge %v, desired %d): MaxSurge = %d, want %d", fmtIntOrString(ms), desired, b.MaxSurge, wantS)
		}
		if okU && okS {
			if desired > 0 && wantU == 0 && wantS == 0 {
				wantU = 1
			}
			if b.MaxUnavailable != wantU {
				t.Fatalf("Limits(maxUnavailable %v, maxSurge %v, desired %d): MaxUnavailable = %d, want %d", fmtIntOrString(mu), fmtIntOrString(ms), desired, b.MaxUnavailable, wantU)
			}
		}
	})
}

func fmtIntOrString(v *intstr.IntOrString) string {
	if v == nil {
		return "<nil>"
	}
	if v.Type == intstr.String {
		return strconv.Quote(v.StrVal)
	}
	return v.String()
}
