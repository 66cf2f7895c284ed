package placement

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// quietKlog discards klog output while f runs: core/v1 logs an error for
// every Lt/Gt toleration whose value is not a decimal integer, and the
// fuzzer makes millions of those.
func quietKlog(f *testing.F) {
	klog.SetLogger(klog.New(nil)) // logr.Discard()
	f.Cleanup(klog.ClearLogger)
}

// fuzzBytes hands out bytes of fuzz data, then zeros, so a short input
// means "nothing more": no more terms, tolerations, labels or taints.
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

// fuzzLabelKeys are the label keys the generator uses, with whether
// labels.NewRequirement accepts them (a qualified name).
var fuzzLabelKeys = []struct {
	key   string
	valid bool
}{
	{"zone", true},
	{"disk", true},
	{"cores", true},
	{"example.com/gpu", true},
	{"", false},
	{"bad key!", false},
	{"/x", false},
}

// fuzzValue is a label, taint or toleration value with its properties,
// worked out by hand so the reference below needs no parser:
//   - label: a valid label value (what labels.NewRequirement demands of every
//     value: empty, or alphanumeric at both ends and [-_.A-Za-z0-9] inside);
//   - integer: strconv.ParseInt accepts it (the Gt/Lt node selector operand
//     and the node label it is compared with), with value n;
//   - decimal: a canonical decimal integer (no sign but '-', no leading
//     zero), which is what Lt/Gt tolerations demand of both values.
type fuzzValue struct {
	s       string
	label   bool
	integer bool
	n       int64
	decimal bool
}

var fuzzValues = []fuzzValue{
	{s: "a", label: true},
	{s: "b", label: true},
	{s: "", label: true},
	{s: "0", label: true, integer: true, n: 0, decimal: true},
	{s: "3", label: true, integer: true, n: 3, decimal: true},
	{s: "8", label: true, integer: true, n: 8, decimal: true},
	{s: "08", label: true, integer: true, n: 8},
	{s: "-2", integer: true, n: -2, decimal: true},
	{s: "+4", integer: true, n: 4},
	{s: "x y"},
	{s: "99999999999999999999", label: true}, // overflows int64
}

func fuzzValueOf(s string) fuzzValue {
	for _, v := range fuzzValues {
		if v.s == s {
			return v
		}
	}
	panic(fmt.Sprintf("value %q is not in fuzzValues", s))
}

func fuzzKeyValid(key string) bool {
	for _, k := range fuzzLabelKeys {
		if k.key == key {
			return k.valid
		}
	}
	panic(fmt.Sprintf("key %q is not in fuzzLabelKeys", key))
}

var (
	fuzzNodeNames = []string{"n1", "n2", "n3"}
	fuzzTaintKeys = []string{
		"dedicated", "zone",
		v1.TaintNodeNotReady, v1.TaintNodeUnreachable, v1.TaintNodeDiskPressure, v1.TaintNodeMemoryPressure,
		v1.TaintNodePIDPressure, v1.TaintNodeUnschedulable, v1.TaintNodeNetworkUnavailable,
	}
	fuzzEffects   = []v1.TaintEffect{v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute}
	fuzzExprOps   = []v1.NodeSelectorOperator{v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn, v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist, v1.NodeSelectorOpGt, v1.NodeSelectorOpLt, "Near"}
	fuzzTolOps    = []v1.TolerationOperator{v1.TolerationOpEqual, v1.TolerationOpExists, "", v1.TolerationOpLt, v1.TolerationOpGt, "Bogus"}
	fuzzTolEffect = []v1.TaintEffect{"", v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute}
)

func (r *fuzzBytes) value() string { return fuzzValues[r.pick(len(fuzzValues))].s }

func (r *fuzzBytes) labelKey() string { return fuzzLabelKeys[r.pick(len(fuzzLabelKeys))].key }

// toleration: key (with "" meaning any key), operator, value, effect and
// tolerationSeconds, one byte each.
func (r *fuzzBytes) toleration() v1.Toleration {
	t := v1.Toleration{}
	if k := r.pick(len(fuzzTaintKeys) + 1); k < len(fuzzTaintKeys) {
		t.Key = fuzzTaintKeys[k]
	}
	t.Operator = fuzzTolOps[r.pick(len(fuzzTolOps))]
	t.Value = r.value()
	t.Effect = fuzzTolEffect[r.pick(len(fuzzTolEffect))]
	switch r.next() % 4 {
	case 1:
		t.TolerationSeconds = ptr(int64(0))
	case 2:
		t.TolerationSeconds = ptr(int64(300))
	case 3:
		t.TolerationSeconds = ptr(int64(600))
	}
	return t
}

// requirement: key, operator, shape, then the values. A shape byte below
// 0x80 gives the count the operator needs (In/NotIn one to three, Exists and
// DoesNotExist none, Gt/Lt one); from 0x80 on, any count from zero to three.
func (r *fuzzBytes) requirement() v1.NodeSelectorRequirement {
	req := v1.NodeSelectorRequirement{Key: r.labelKey(), Operator: fuzzExprOps[r.pick(len(fuzzExprOps))]}
	shape := r.next()
	count := int(shape % 4)
	if shape < 0x80 {
		switch req.Operator {
		case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
			count = 1 + int(shape%3)
		case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
			count = 0
		default:
			count = 1
		}
	}
	for range count {
		req.Values = append(req.Values, r.value())
	}
	return req
}

// fieldRequirement: a shape byte, then the values (node names). Bit 0 picks
// In or NotIn; 0x20 makes the operator Exists, 0x40 the key
// metadata.namespace, 0x80 the count (shape>>2)%3 instead of one.
func (r *fuzzBytes) fieldRequirement() v1.NodeSelectorRequirement {
	shape := r.next()
	req := v1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn}
	if shape&1 != 0 {
		req.Operator = v1.NodeSelectorOpNotIn
	}
	if shape&0x20 != 0 {
		req.Operator = v1.NodeSelectorOpExists
	}
	if shape&0x40 != 0 {
		req.Key = "metadata.namespace"
	}
	count := 1
	if shape&0x80 != 0 {
		count = int(shape>>2) % 3
	}
	for range count {
		req.Values = append(req.Values, fuzzNodeNames[r.pick(len(fuzzNodeNames))])
	}
	return req
}

// fuzzPlacementInput builds a DaemonSet and a node from data, in this order:
//
//	nodeName (7 mod 8 sets it, to fuzzNodeNames[b/8 mod 3]), hostNetwork (odd),
//	nodeSelector count (mod 3) and key/value pairs,
//	affinity shape (mod 6: nil, empty Affinity, empty NodeAffinity, else
//	required terms), term count (mod 4), per term: expression count (mod 3)
//	and expressions, field count (mod 2) and fields,
//	toleration count (mod 5) and tolerations,
//	node name, unschedulable (odd), label count (mod 5) and key/value pairs,
//	taint count (mod 5) and key/value/effect triples.
func fuzzPlacementInput(data []byte) (*appsv1.DaemonSet, *v1.Node) {
	r := &fuzzBytes{data: data}
	spec := v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "img"}}}
	if b := r.next(); b%8 == 7 {
		spec.NodeName = fuzzNodeNames[int(b/8)%len(fuzzNodeNames)]
	}
	spec.HostNetwork = r.next()%2 == 1
	for range r.pick(3) {
		if spec.NodeSelector == nil {
			spec.NodeSelector = map[string]string{}
		}
		k := r.labelKey()
		spec.NodeSelector[k] = r.value()
	}
	switch r.pick(6) {
	case 0:
	case 1:
		spec.Affinity = &v1.Affinity{}
	case 2:
		spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{}}
	default:
		sel := &v1.NodeSelector{}
		for range r.pick(4) {
			var term v1.NodeSelectorTerm
			for range r.pick(3) {
				term.MatchExpressions = append(term.MatchExpressions, r.requirement())
			}
			for range r.pick(2) {
				term.MatchFields = append(term.MatchFields, r.fieldRequirement())
			}
			sel.NodeSelectorTerms = append(sel.NodeSelectorTerms, term)
		}
		spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: sel}}
	}
	for range r.pick(5) {
		spec.Tolerations = append(spec.Tolerations, r.toleration())
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default"},
		Spec:       appsv1.DaemonSetSpec{Template: v1.PodTemplateSpec{Spec: spec}},
	}

	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fuzzNodeNames[r.pick(len(fuzzNodeNames))]}}
	n.Spec.Unschedulable = r.next()%2 == 1
	for range r.pick(5) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		k := r.labelKey()
		n.Labels[k] = r.value()
	}
	for range r.pick(5) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{
			Key: fuzzTaintKeys[r.pick(len(fuzzTaintKeys))], Value: r.value(), Effect: fuzzEffects[r.pick(len(fuzzEffects))],
		})
	}
	return ds, n
}

// ---- Reference: NodeShouldRunDaemonPod, written out from the Kubernetes
// rules (component-helpers nodeaffinity, core/v1 Toleration.ToleratesTaint,
// pkg/controller/daemon nodeShouldRunDaemonPod) without calling them.

// refDaemonTolerations are the keys and effects every daemon pod tolerates
// (any value), per pkg/controller/daemon/util.AddOrUpdateDaemonPodTolerations.
func refDaemonTolerations(hostNetwork bool) []v1.Toleration {
	out := []v1.Toleration{
		{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
		{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute},
		{Key: v1.TaintNodeDiskPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodePIDPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
		{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		out = append(out, v1.Toleration{Key: v1.TaintNodeNetworkUnavailable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})
	}
	return out
}

// refTolerates: an empty effect matches every effect; an empty key matches
// every key; Exists matches every value; Equal (or no operator) needs the
// same value; Lt/Gt compare canonical decimal integers (taint < or >
// toleration); anything else matches nothing.
func refTolerates(t v1.Toleration, taint v1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case v1.TolerationOpExists:
		return true
	case "", v1.TolerationOpEqual:
		return t.Value == taint.Value
	case v1.TolerationOpLt, v1.TolerationOpGt:
		tol, tv := fuzzValueOf(t.Value), fuzzValueOf(taint.Value)
		if !tol.decimal || !tv.decimal {
			return false
		}
		if t.Operator == v1.TolerationOpLt {
			return tv.n < tol.n
		}
		return tv.n > tol.n
	}
	return false
}

func refTolerated(tols []v1.Toleration, taint v1.Taint) bool {
	for _, t := range tols {
		if refTolerates(t, taint) {
			return true
		}
	}
	return false
}

func refRequirementValid(req v1.NodeSelectorRequirement) bool {
	if !fuzzKeyValid(req.Key) {
		return false
	}
	for _, v := range req.Values {
		if !fuzzValueOf(v).label {
			return false
		}
	}
	switch req.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		return len(req.Values) > 0
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		return len(req.Values) == 0
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		return len(req.Values) == 1 && fuzzValueOf(req.Values[0]).integer
	}
	return false
}

func refRequirementMatches(req v1.NodeSelectorRequirement, lbls map[string]string) bool {
	v, has := lbls[req.Key]
	switch req.Operator {
	case v1.NodeSelectorOpIn:
		return has && slices.Contains(req.Values, v)
	case v1.NodeSelectorOpNotIn:
		return !has || !slices.Contains(req.Values, v)
	case v1.NodeSelectorOpExists:
		return has
	case v1.NodeSelectorOpDoesNotExist:
		return !has
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if !has || !fuzzValueOf(v).integer {
			return false
		}
		label, want := fuzzValueOf(v).n, fuzzValueOf(req.Values[0]).n
		if req.Operator == v1.NodeSelectorOpGt {
			return label > want
		}
		return label < want
	}
	return false
}

// refTermMatches: an empty term, or one with any malformed requirement,
// matches nothing; otherwise every requirement must hold. Fields know only
// metadata.name with In or NotIn and exactly one value.
func refTermMatches(term v1.NodeSelectorTerm, n *v1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, req := range term.MatchExpressions {
		if !refRequirementValid(req) || !refRequirementMatches(req, n.Labels) {
			return false
		}
	}
	for _, f := range term.MatchFields {
		if f.Key != metav1.ObjectNameField || len(f.Values) != 1 {
			return false
		}
		switch f.Operator {
		case v1.NodeSelectorOpIn:
			if n.Name != f.Values[0] {
				return false
			}
		case v1.NodeSelectorOpNotIn:
			if n.Name == f.Values[0] {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// refEligible: node name, node selector (a subset of the node's labels) and
// required node affinity (any term), ignoring taints.
func refEligible(spec *v1.PodSpec, n *v1.Node) bool {
	if spec.NodeName != "" && spec.NodeName != n.Name {
		return false
	}
	for k, v := range spec.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if refTermMatches(term, n) {
			return true
		}
	}
	return false
}

// refDecision: an ineligible node gets nothing; an untolerated NoExecute
// taint means no new pod and eviction of a running one; an untolerated
// NoSchedule taint means no new pod, but a running one stays.
// PreferNoSchedule never matters.
func refDecision(spec *v1.PodSpec, n *v1.Node) Decision {
	if !refEligible(spec, n) {
		return Decision{}
	}
	tols := append(append([]v1.Toleration(nil), spec.Tolerations...), refDaemonTolerations(spec.HostNetwork)...)
	noSchedule, noExecute := false, false
	for _, taint := range n.Spec.Taints {
		if refTolerated(tols, taint) {
			continue
		}
		switch taint.Effect {
		case v1.TaintEffectNoSchedule:
			noSchedule = true
		case v1.TaintEffectNoExecute:
			noExecute = true
		}
	}
	return Decision{ShouldRun: !noSchedule && !noExecute, ShouldContinue: !noExecute}
}

func atLeast(a, b Decision) bool {
	return (a.ShouldRun || !b.ShouldRun) && (a.ShouldContinue || !b.ShouldContinue)
}

func withTolerations(ds *appsv1.DaemonSet, extra ...v1.Toleration) *appsv1.DaemonSet {
	out := ds.DeepCopy()
	out.Spec.Template.Spec.Tolerations = append(out.Spec.Template.Spec.Tolerations, extra...)
	return out
}

// FuzzPlacement checks Check on a generated DaemonSet and node:
//   - New does not modify the DaemonSet nor Check the node, and a decision is
//     the same when asked again or from a second Checker;
//   - ShouldRun implies ShouldContinue;
//   - the decision equals refDecision, an independent reading of the
//     Kubernetes rules (node name, nodeSelector, required node affinity with
//     every operator and matchFields, taints and tolerations with the
//     automatic daemon tolerations);
//   - a toleration of everything ({operator: Exists}) leaves only the node
//     matching rules: taints never make an eligible node ineligible then,
//     and without taints ShouldRun equals ShouldContinue;
//   - tolerating a taint exactly equals removing it; adding any toleration
//     or removing any taint never takes a permission away;
//   - the order of taints, tolerations, terms and requirements is irrelevant;
//   - a cordoned node (spec.unschedulable plus the unschedulable:NoSchedule
//     taint) is treated as if it were not cordoned, and node-problem taints
//     the daemon tolerates automatically change nothing;
//   - AddDaemonTolerations is idempotent, keeps the pod's own tolerations in
//     place (only an identical key/operator/value/effect may be replaced by
//     the default), and adds each missing default once.
func FuzzPlacement(f *testing.F) {
	quietKlog(f)
	f.Add([]byte{})
	// nodeSelector zone=a; node n1 labelled zone=a.
	f.Add([]byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0})
	// nodeName n2 (b=15); node n1: nothing.
	f.Add([]byte{15, 0, 0, 0, 0, 0, 0})
	// Required affinity, one term: cores Gt 3, and matchFields name In n1;
	// node n1 with cores=8.
	f.Add([]byte{0, 0, 0, 3, 1, 1, 2, 4, 0, 4, 1, 0, 0, 0, 0, 0, 1, 2, 5})
	// Same term, node label cores=08 (ParseInt reads 8).
	f.Add([]byte{0, 0, 0, 3, 1, 1, 2, 4, 0, 4, 1, 0, 0, 0, 0, 0, 1, 2, 6})
	// Two terms: an invalid one (key "bad key!" Exists) ORed with zone NotIn a;
	// node without labels.
	f.Add([]byte{0, 0, 0, 3, 2, 1, 5, 2, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	// Toleration dedicated Exists NoSchedule; node tainted dedicated=a:NoSchedule
	// and zone=b:NoExecute.
	f.Add([]byte{0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2})
	// Toleration with empty key and Exists; node with NoSchedule and NoExecute taints.
	f.Add([]byte{0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2})
	// Toleration dedicated Lt 8 NoExecute; node tainted dedicated=3:NoExecute,
	// then dedicated=-2:NoExecute, then dedicated=08:NoExecute (not decimal).
	f.Add([]byte{0, 0, 0, 0, 1, 0, 3, 5, 3, 0, 0, 0, 0, 3, 0, 4, 2, 0, 7, 2, 0, 6, 2})
	// Cordoned node with the unschedulable taint, and a not-ready NoExecute taint.
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 0, 2, 7, 2, 0, 2, 2, 2})
	// hostNetwork; node with network-unavailable:NoSchedule.
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 1, 8, 2, 0})
	// A toleration identical to a default (not-ready Exists NoExecute) but
	// with tolerationSeconds 300; a PreferNoSchedule taint.
	f.Add([]byte{0, 0, 0, 0, 1, 2, 1, 2, 3, 2, 0, 0, 0, 1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, n := fuzzPlacementInput(data)
		spec := &ds.Spec.Template.Spec
		dsBefore, nodeBefore := ds.DeepCopy(), n.DeepCopy()

		c := New(ds)
		got := c.Check(n)
		if !reflect.DeepEqual(ds, dsBefore) {
			t.Fatalf("New modified the DaemonSet:\n got %+v\nwant %+v", ds.Spec.Template.Spec, dsBefore.Spec.Template.Spec)
		}
		if !reflect.DeepEqual(n, nodeBefore) {
			t.Fatalf("Check modified the node:\n got %+v\nwant %+v", n, nodeBefore)
		}
		if again := c.Check(n); again != got {
			t.Fatalf("Check is not deterministic: %+v then %+v", got, again)
		}
		if other := New(ds).Check(n); other != got {
			t.Fatalf("a second Checker decides %+v, the first %+v", other, got)
		}
		if got.ShouldRun && !got.ShouldContinue {
			t.Fatalf("ShouldRun without ShouldContinue: %+v", got)
		}
		if want := refDecision(spec, n); got != want {
			t.Fatalf("Check() = %+v, reference %+v\nspec: nodeName=%q nodeSelector=%v affinity=%+v tolerations=%+v hostNetwork=%v\nnode: %+v",
				got, want, spec.NodeName, spec.NodeSelector, spec.Affinity, spec.Tolerations, spec.HostNetwork, n)
		}

		// Without taints only the node matching rules are left.
		bare := n.DeepCopy()
		bare.Spec.Taints = nil
		eligible := c.Check(bare)
		if eligible.ShouldRun != eligible.ShouldContinue || eligible.ShouldRun != refEligible(spec, n) {
			t.Fatalf("untainted node: Check() = %+v, eligible %v", eligible, refEligible(spec, n))
		}
		if !atLeast(eligible, got) {
			t.Fatalf("taints made the node more eligible: %+v with taints, %+v without", got, eligible)
		}
		// Tolerating everything makes taints irrelevant.
		if all := New(withTolerations(ds, v1.Toleration{Operator: v1.TolerationOpExists})).Check(n); all != eligible {
			t.Fatalf("with a toleration of every taint Check() = %+v, want %+v (taints must not matter)", all, eligible)
		}

		for i, taint := range n.Spec.Taints {
			// Tolerating exactly this taint is removing it (and any copy of it).
			exact := v1.Toleration{Key: taint.Key, Operator: v1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect}
			tolerated := New(withTolerations(ds, exact)).Check(n)
			without := n.DeepCopy()
			without.Spec.Taints = slices.DeleteFunc(without.Spec.Taints, func(o v1.Taint) bool {
				return o.Key == taint.Key && o.Value == taint.Value && o.Effect == taint.Effect
			})
			if removed := c.Check(without); removed != tolerated {
				t.Fatalf("taint %d %+v: tolerating it gives %+v, removing it %+v", i, taint, tolerated, removed)
			}
			if !atLeast(tolerated, got) {
				t.Fatalf("tolerating taint %+v took a permission away: %+v, was %+v", taint, tolerated, got)
			}
			// Removing just this one taint never hurts.
			one := n.DeepCopy()
			one.Spec.Taints = slices.Delete(one.Spec.Taints, i, i+1)
			if d := c.Check(one); !atLeast(d, got) {
				t.Fatalf("removing taint %+v took a permission away: %+v, was %+v", taint, d, got)
			}
		}
		// Any single extra toleration never hurts.
		for _, tol := range spec.Tolerations {
			for _, variant := range []v1.Toleration{tol, {Key: tol.Key, Operator: v1.TolerationOpExists}, {Operator: v1.TolerationOpExists, Effect: tol.Effect}} {
				if d := New(withTolerations(ds, variant)).Check(n); !atLeast(d, got) {
					t.Fatalf("adding toleration %+v took a permission away: %+v, was %+v", variant, d, got)
				}
			}
		}

		// Order does not matter.
		rev := ds.DeepCopy()
		rs := &rev.Spec.Template.Spec
		slices.Reverse(rs.Tolerations)
		if rs.Affinity != nil && rs.Affinity.NodeAffinity != nil && rs.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			terms := rs.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			slices.Reverse(terms)
			for i := range terms {
				slices.Reverse(terms[i].MatchExpressions)
				slices.Reverse(terms[i].MatchFields)
			}
		}
		revNode := n.DeepCopy()
		slices.Reverse(revNode.Spec.Taints)
		if d := New(rev).Check(revNode); d != got {
			t.Fatalf("reversing taints, tolerations, terms and requirements changed the decision: %+v, was %+v", d, got)
		}

		// A cordoned node is treated as an uncordoned one.
		uncordoned := n.DeepCopy()
		uncordoned.Spec.Unschedulable = false
		uncordoned.Spec.Taints = slices.DeleteFunc(uncordoned.Spec.Taints, func(o v1.Taint) bool {
			return o.Key == v1.TaintNodeUnschedulable && o.Effect == v1.TaintEffectNoSchedule
		})
		cordoned := uncordoned.DeepCopy()
		cordoned.Spec.Unschedulable = true
		cordoned.Spec.Taints = append(cordoned.Spec.Taints, v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule})
		if a, b := c.Check(cordoned), c.Check(uncordoned); a != b {
			t.Fatalf("cordoning the node changed the decision: %+v cordoned, %+v not", a, b)
		}
		// Node-problem taints the daemon tolerates change nothing.
		for _, tol := range refDaemonTolerations(spec.HostNetwork) {
			problem := n.DeepCopy()
			problem.Spec.Taints = append(problem.Spec.Taints, v1.Taint{Key: tol.Key, Value: "a", Effect: tol.Effect})
			if d := c.Check(problem); d != got {
				t.Fatalf("taint %s:%s changed the decision: %+v, was %+v", tol.Key, tol.Effect, d, got)
			}
		}

		// AddDaemonTolerations.
		own := slices.Clone(spec.Tolerations)
		ps := spec.DeepCopy()
		AddDaemonTolerations(ps)
		once := slices.Clone(ps.Tolerations)
		AddDaemonTolerations(ps)
		if !reflect.DeepEqual(ps.Tolerations, once) {
			t.Fatalf("AddDaemonTolerations is not idempotent:\nonce  %+v\ntwice %+v", once, ps.Tolerations)
		}
		defaults := refDaemonTolerations(spec.HostNetwork)
		if len(once) < len(own) {
			t.Fatalf("AddDaemonTolerations dropped tolerations: %+v -> %+v", own, once)
		}
		isDefault := func(tol v1.Toleration) bool {
			return slices.ContainsFunc(defaults, func(d v1.Toleration) bool { return reflect.DeepEqual(tol, d) })
		}
		for i, o := range own {
			if !reflect.DeepEqual(once[i], o) && !(isDefault(once[i]) && once[i].MatchToleration(&o)) {
				t.Fatalf("AddDaemonTolerations changed toleration %d %+v into %+v", i, o, once[i])
			}
		}
		missing := 0
		for _, d := range defaults {
			if !slices.ContainsFunc(own, func(o v1.Toleration) bool { return o.MatchToleration(&d) }) {
				missing++
			}
			if !slices.ContainsFunc(once, func(o v1.Toleration) bool { return reflect.DeepEqual(o, d) }) {
				t.Fatalf("AddDaemonTolerations left out %+v: %+v", d, once)
			}
		}
		if len(once) != len(own)+missing {
			t.Fatalf("AddDaemonTolerations added %d tolerations, want the %d missing defaults: %+v -> %+v", len(once)-len(own), missing, own, once)
		}
		if !reflect.DeepEqual(once[len(own):], slices.DeleteFunc(slices.Clone(defaults), func(d v1.Toleration) bool {
			return slices.ContainsFunc(own, func(o v1.Toleration) bool { return o.MatchToleration(&d) })
		})) {
			t.Fatalf("AddDaemonTolerations appended %+v, want the missing defaults in order", once[len(own):])
		}
	})
}

// upstreamAddOrUpdateToleration is k8s.io/kubernetes
// pkg/apis/core/v1/helper.AddOrUpdateTolerationInPodSpec (v1.37), which
// pkg/controller/daemon/util.AddOrUpdateDaemonPodTolerations calls for each
// default. Its early return compares a *Toleration with a Toleration, which
// is never equal, so in effect it replaces every matching toleration.
func upstreamAddOrUpdateToleration(spec *v1.PodSpec, toleration *v1.Toleration) bool {
	podTolerations := spec.Tolerations
	var newTolerations []v1.Toleration
	updated := false
	for i := range podTolerations {
		if toleration.MatchToleration(&podTolerations[i]) {
			if equality.Semantic.DeepEqual(toleration, podTolerations[i]) {
				return false
			}
			newTolerations = append(newTolerations, *toleration)
			updated = true
			continue
		}
		newTolerations = append(newTolerations, podTolerations[i])
	}
	if !updated {
		newTolerations = append(newTolerations, *toleration)
	}
	spec.Tolerations = newTolerations
	return true
}

// FuzzAddDaemonTolerationsUpstream checks the promise in
// AddDaemonTolerations' doc comment, "exactly as upstream does, so pods
// come out the same": for any pod spec the tolerations equal those of
// upstream's AddOrUpdateDaemonPodTolerations. data is read as: hostNetwork
// (odd), then up to seven tolerations (count mod 8), each from one byte
// (which default it resembles and whether key, operator and effect are
// kept) and one for tolerationSeconds (none, 0, 300, 600).
func FuzzAddDaemonTolerationsUpstream(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	// One not-ready toleration with tolerationSeconds 300: replaced.
	f.Add([]byte{0, 1, 0, 2})
	// network-unavailable without hostNetwork, disk-pressure with another effect.
	f.Add([]byte{0, 2, 6, 0, 0x12, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzBytes{data: data}
		spec := v1.PodSpec{HostNetwork: r.next()%2 == 1}
		all := refDaemonTolerations(true)
		for range r.pick(8) {
			b := r.next()
			tol := all[int(b&7)%len(all)]
			if b&0x10 != 0 {
				tol.Effect = v1.TaintEffectNoExecute
				if tol.Key == v1.TaintNodeNotReady || tol.Key == v1.TaintNodeUnreachable {
					tol.Effect = v1.TaintEffectNoSchedule
				}
			}
			if b&0x20 != 0 {
				tol.Operator, tol.Value = v1.TolerationOpEqual, "x"
			}
			if b&0x40 != 0 {
				tol.Key = "dedicated"
			}
			if b&0x80 != 0 {
				tol.Effect = ""
			}
			switch r.next() % 4 {
			case 1:
				tol.TolerationSeconds = ptr(int64(0))
			case 2:
				tol.TolerationSeconds = ptr(int64(300))
			case 3:
				tol.TolerationSeconds = ptr(int64(600))
			}
			spec.Tolerations = append(spec.Tolerations, tol)
		}
		want := spec.DeepCopy()
		for _, d := range refDaemonTolerations(want.HostNetwork) {
			upstreamAddOrUpdateToleration(want, &d)
		}
		got := spec.DeepCopy()
		AddDaemonTolerations(got)
		if !reflect.DeepEqual(got.Tolerations, want.Tolerations) {
			t.Fatalf("tolerations differ from upstream for %s\n got      %s\n upstream %s",
				fmtTolerations(spec.Tolerations), fmtTolerations(got.Tolerations), fmtTolerations(want.Tolerations))
		}
	})
}

func fmtTolerations(ts []v1.Toleration) string {
	s := "["
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s %q %s", t.Key, t.Operator, t.Value, t.Effect)
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" %ds", *t.TolerationSeconds)
		}
	}
	return s + "]"
}
