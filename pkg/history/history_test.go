package history

import (
	"encoding/json"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// goldenTemplate must stay byte for byte the template used to compute the
// golden hashes below.
func goldenTemplate() *v1.PodTemplateSpec {
	return &v1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "golden", "tier": "node"}},
		Spec: v1.PodSpec{
			Containers:   []v1.Container{{Name: "agent", Image: "registry.example/agent:1.0", Args: []string{"--v=2"}}},
			NodeSelector: map[string]string{"disk": "ssd"},
			Tolerations:  []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "infra", Effect: v1.TaintEffectNoSchedule}},
			HostNetwork:  true,
		},
	}
}

// TestHashMatchesUpstream pins Hash to kube-controller-manager's.
//
// The expected values were computed once with upstream's
// k8s.io/kubernetes/pkg/controller.ComputeHash (k8s.io/kubernetes v1.37.2)
// in a throwaway main package inside a copy of e2e/tools/kube (same require
// and replace directives, k8s.io/* staging modules at v0.37.2), printing
// ComputeHash(goldenTemplate(), cc) for cc = nil, &0, &3 and
// ComputeHash(&v1.PodTemplateSpec{}, nil). If this test fails after a
// dependency bump, recompute them the same way: a mismatch means pods and
// revisions made by the built-in controller are no longer recognised.
func TestHashMatchesUpstream(t *testing.T) {
	zero, three := int32(0), int32(3)
	tests := []struct {
		name     string
		template *v1.PodTemplateSpec
		cc       *int32
		want     string
	}{
		{"golden template", goldenTemplate(), nil, "74c7546785"},
		{"golden template, collisionCount 0", goldenTemplate(), &zero, "558df4bf5c"},
		{"golden template, collisionCount 3", goldenTemplate(), &three, "6c599bf794"},
		{"empty template", &v1.PodTemplateSpec{}, nil, "54f4c57dcb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.template, tt.cc); got != tt.want {
				t.Errorf("Hash() = %q, want upstream's %q", got, tt.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	one, two := int32(1), int32(2)
	base := Hash(goldenTemplate(), nil)

	if again := Hash(goldenTemplate(), nil); again != base {
		t.Errorf("Hash is not deterministic: %q then %q", base, again)
	}
	for i := 0; i < 20; i++ { // map iteration order must not leak in
		if got := Hash(goldenTemplate(), nil); got != base {
			t.Fatalf("Hash changed between calls: %q vs %q", got, base)
		}
	}

	changed := map[string]func(*v1.PodTemplateSpec){
		"image":      func(p *v1.PodTemplateSpec) { p.Spec.Containers[0].Image = "registry.example/agent:1.1" },
		"label":      func(p *v1.PodTemplateSpec) { p.Labels["tier"] = "edge" },
		"annotation": func(p *v1.PodTemplateSpec) { p.Annotations = map[string]string{"a": "b"} },
		"toleration": func(p *v1.PodTemplateSpec) { p.Spec.Tolerations = nil },
	}
	for name, mutate := range changed {
		tmpl := goldenTemplate()
		mutate(tmpl)
		if got := Hash(tmpl, nil); got == base {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}

	h1, h2 := Hash(goldenTemplate(), &one), Hash(goldenTemplate(), &two)
	if h1 == base || h2 == base || h1 == h2 {
		t.Errorf("collisionCount does not change the hash: nil=%q 1=%q 2=%q", base, h1, h2)
	}

	tmpl := goldenTemplate()
	before := tmpl.DeepCopy()
	Hash(tmpl, &one)
	if !reflect.DeepEqual(tmpl, before) {
		t.Error("Hash modified the template")
	}
}

func daemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "uid-1", Generation: 4, Labels: map[string]string{"x": "y"}},
		Spec: appsv1.DaemonSetSpec{
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": "golden"}},
			Template:        *goldenTemplate(),
			MinReadySeconds: 5,
		},
		Status: appsv1.DaemonSetStatus{NumberReady: 3},
	}
}

func TestName(t *testing.T) {
	if got := Name(daemonSet(), "abc"); got != "agent-abc" {
		t.Errorf("Name() = %q, want agent-abc", got)
	}
}

func TestPatchShape(t *testing.T) {
	ds := daemonSet()
	raw, err := Patch(ds)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]interface{}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("patch is not JSON: %v", err)
	}
	if len(got) != 1 {
		t.Errorf("patch has top-level keys %v, want only spec", keys(got))
	}
	spec, ok := got["spec"].(map[string]interface{})
	if !ok || len(spec) != 1 {
		t.Fatalf("spec = %v, want only spec.template", got["spec"])
	}
	template, ok := spec["template"].(map[string]interface{})
	if !ok {
		t.Fatalf("spec.template = %v", spec["template"])
	}
	if template["$patch"] != "replace" {
		t.Errorf(`spec.template["$patch"] = %v, want "replace"`, template["$patch"])
	}
	// Apart from the directive, the template is exactly the DaemonSet's.
	delete(template, "$patch")
	tmplJSON, _ := json.Marshal(ds.Spec.Template)
	var want map[string]interface{}
	if err := json.Unmarshal(tmplJSON, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(template, want) {
		t.Errorf("template in patch =\n%v\nwant\n%v", template, want)
	}

	// Byte for byte: keys sorted, as encoding/json writes maps.
	wantRaw := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"golden","tier":"node"}},` +
		`"spec":{"containers":[{"args":["--v=2"],"image":"registry.example/agent:1.0","name":"agent","resources":{}}],` +
		`"hostNetwork":true,"nodeSelector":{"disk":"ssd"},` +
		`"tolerations":[{"effect":"NoSchedule","key":"dedicated","operator":"Equal","value":"infra"}]}}}}`
	if string(raw) != wantRaw {
		t.Errorf("Patch() =\n%s\nwant\n%s", raw, wantRaw)
	}
}

func TestPatchIgnoresEverythingButTheTemplate(t *testing.T) {
	a, b := daemonSet(), daemonSet()
	b.Name, b.UID, b.Generation = "other", "uid-2", 9
	b.Spec.MinReadySeconds = 30
	b.Status = appsv1.DaemonSetStatus{NumberReady: 7}
	pa, _ := Patch(a)
	pb, _ := Patch(b)
	if string(pa) != string(pb) {
		t.Errorf("patches differ outside the template:\n%s\n%s", pa, pb)
	}
	b.Spec.Template.Spec.Containers[0].Image = "new"
	pb, _ = Patch(b)
	if string(pa) == string(pb) {
		t.Error("patch did not change with the template")
	}
}

func TestMatches(t *testing.T) {
	ds := daemonSet()
	data, err := Patch(ds)
	if err != nil {
		t.Fatal(err)
	}
	rev := &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: data}}
	if !Matches(data, rev) {
		t.Error("a DaemonSet does not match its own revision")
	}

	other := daemonSet()
	other.Spec.MinReadySeconds = 99 // not part of the template
	if p, _ := Patch(other); !Matches(p, rev) {
		t.Error("a change outside the template broke the match")
	}

	other.Spec.Template.Labels["tier"] = "edge"
	if p, _ := Patch(other); Matches(p, rev) {
		t.Error("a different template matches")
	}

	if Matches(data, &appsv1.ControllerRevision{}) {
		t.Error("an empty revision matches")
	}
}

// TestPatchAsUpstreamCutsIt: encoding the template alone gives the bytes
// that upstream's way (encode the whole DaemonSet, cut the template out)
// gives, with and without the fields that are often empty.
func TestPatchAsUpstreamCutsIt(t *testing.T) {
	upstream := func(ds *appsv1.DaemonSet) []byte {
		raw, err := json.Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]interface{}
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		template := obj["spec"].(map[string]interface{})["template"].(map[string]interface{})
		template["$patch"] = "replace"
		out, err := json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	full := daemonSet()
	full.Spec.Template.Annotations = map[string]string{"a": "<&>"}
	full.Spec.Template.Spec.Tolerations = []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}}
	full.Spec.Template.Spec.NodeSelector = map[string]string{"z": "1", "a": "2"}
	full.Status.NumberReady = 3
	for name, ds := range map[string]*appsv1.DaemonSet{"usual": daemonSet(), "fuller": full, "empty": {}} {
		got, err := Patch(ds)
		if err != nil {
			t.Fatal(err)
		}
		if want := upstream(ds); string(got) != string(want) {
			t.Errorf("%s: Patch =\n%s\nupstream's way =\n%s", name, got, want)
		}
	}
}

func TestMaxRevision(t *testing.T) {
	rev := func(n int64) *appsv1.ControllerRevision { return &appsv1.ControllerRevision{Revision: n} }
	tests := []struct {
		revs []*appsv1.ControllerRevision
		want int64
	}{
		{nil, 0},
		{[]*appsv1.ControllerRevision{rev(3)}, 3},
		{[]*appsv1.ControllerRevision{rev(2), rev(7), rev(5)}, 7},
	}
	for _, tt := range tests {
		if got := MaxRevision(tt.revs); got != tt.want {
			t.Errorf("MaxRevision(%d revisions) = %d, want %d", len(tt.revs), got, tt.want)
		}
	}
}

func keys(m map[string]interface{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
