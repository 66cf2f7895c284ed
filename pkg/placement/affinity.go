package placement

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// nodeAffinity is the parsed form of a pod's nodeSelector and required node
// affinity: both must match.
type nodeAffinity struct {
	selector labels.Selector // from spec.nodeSelector; nil when absent
	terms    []term          // ORed; nil when there is no required affinity
	hasTerms bool
}

// term is one NodeSelectorTerm: all of its requirements must hold. A term
// that failed to parse never matches, as in kube-scheduler.
type term struct {
	labels labels.Selector
	fields []v1.NodeSelectorRequirement
	valid  bool
}

func newNodeAffinity(nodeSelector map[string]string, affinity *v1.Affinity) nodeAffinity {
	var na nodeAffinity
	if len(nodeSelector) > 0 {
		na.selector = labels.SelectorFromSet(nodeSelector)
	}
	if affinity == nil || affinity.NodeAffinity == nil || affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return na
	}
	na.hasTerms = true
	for _, t := range affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		na.terms = append(na.terms, parseTerm(t))
	}
	return na
}

func parseTerm(t v1.NodeSelectorTerm) term {
	// An empty term selects no nodes.
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return term{}
	}
	sel := labels.NewSelector()
	for _, r := range t.MatchExpressions {
		req, err := labelRequirement(r)
		if err != nil {
			return term{}
		}
		sel = sel.Add(*req)
	}
	for _, f := range t.MatchFields {
		if f.Key != metav1.ObjectNameField || len(f.Values) != 1 ||
			(f.Operator != v1.NodeSelectorOpIn && f.Operator != v1.NodeSelectorOpNotIn) {
			return term{}
		}
	}
	return term{labels: sel, fields: t.MatchFields, valid: true}
}

var labelOps = map[v1.NodeSelectorOperator]selection.Operator{
	v1.NodeSelectorOpIn:           selection.In,
	v1.NodeSelectorOpNotIn:        selection.NotIn,
	v1.NodeSelectorOpExists:       selection.Exists,
	v1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	v1.NodeSelectorOpGt:           selection.GreaterThan,
	v1.NodeSelectorOpLt:           selection.LessThan,
}

func labelRequirement(r v1.NodeSelectorRequirement) (*labels.Requirement, error) {
	op, ok := labelOps[r.Operator]
	if !ok {
		return nil, errUnknownOperator(r.Operator)
	}
	return labels.NewRequirement(r.Key, op, r.Values)
}

type errUnknownOperator v1.NodeSelectorOperator

func (e errUnknownOperator) Error() string { return "unknown node selector operator " + string(e) }

func (na nodeAffinity) matches(node *v1.Node) bool {
	if na.selector != nil && !na.selector.Matches(labels.Set(node.Labels)) {
		return false
	}
	if !na.hasTerms {
		return true
	}
	for _, t := range na.terms {
		if t.matches(node) {
			return true
		}
	}
	return false
}

func (t term) matches(node *v1.Node) bool {
	if !t.valid || !t.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, f := range t.fields {
		if (node.Name == f.Values[0]) != (f.Operator == v1.NodeSelectorOpIn) {
			return false
		}
	}
	return true
}
