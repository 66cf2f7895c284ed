package wiretrim_test

import (
	"bytes"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/daemonset-controller/daemonset-controller/pkg/controller"
	"github.com/daemonset-controller/daemonset-controller/pkg/wiretrim"
)

var serializer = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

func encode(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	var b bytes.Buffer
	codec := scheme.Codecs.EncoderForVersion(serializer, v1.SchemeGroupVersion)
	if _, ok := obj.(*appsv1.DaemonSet); ok {
		codec = scheme.Codecs.EncoderForVersion(serializer, appsv1.SchemeGroupVersion)
	}
	if err := codec.Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decode(data []byte) (runtime.Object, error) {
	obj, _, err := serializer.Decode(data, nil, nil)
	return obj, err
}

func meta(name string) metav1.ObjectMeta {
	yes := true
	return metav1.ObjectMeta{
		Name: name, Namespace: "ns", UID: "u-" + "name", ResourceVersion: "42", Generation: 3,
		GenerateName: "g-", CreationTimestamp: metav1.Unix(1700000000, 0),
		Labels:          map[string]string{"app": "x", "controller-revision-hash": "abc"},
		Annotations:     map[string]string{"note": "kept"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds-uid", Controller: &yes}},
		Finalizers:      []string{"f"},
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:conditions":{}}}`)},
		}},
	}
}

func richPod(name string) *v1.Pod {
	grace := int64(30)
	start := metav1.Unix(1700000100, 0)
	return &v1.Pod{
		ObjectMeta: meta(name),
		Spec: v1.PodSpec{
			NodeName: "node-7",
			Containers: []v1.Container{{
				Name: "fluentd", Image: "quay.io/fluentd_elasticsearch/fluentd:v2.5.2",
				Resources:    v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("200Mi")}},
				VolumeMounts: []v1.VolumeMount{{Name: "varlog", MountPath: "/var/log"}},
				Env:          []v1.EnvVar{{Name: "A", Value: "b"}},
			}},
			Volumes:                       []v1.Volume{{Name: "varlog", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/var/log"}}}},
			Tolerations:                   []v1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}},
			TerminationGracePeriodSeconds: &grace,
			PriorityClassName:             "system-node-critical",
			Affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"node-7"}}}}},
			}}},
		},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: start}},
			HostIP:     "10.0.0.7", PodIP: "10.1.0.7", PodIPs: []v1.PodIP{{IP: "10.1.0.7"}},
			StartTime: &start,
			ContainerStatuses: []v1.ContainerStatus{{
				Name: "fluentd", Ready: true, Image: "fluentd", ImageID: "sha256:0",
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: start}},
			}},
			QOSClass: v1.PodQOSBurstable,
		},
	}
}

func richNode(name string) *v1.Node {
	return &v1.Node{
		ObjectMeta: meta(name),
		Spec: v1.NodeSpec{
			PodCIDR: "10.1.0.0/24", PodCIDRs: []string{"10.1.0.0/24"}, ProviderID: "kwok://" + name, Unschedulable: true,
			Taints: []v1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: v1.TaintEffectNoSchedule}},
		},
		Status: v1.NodeStatus{
			Capacity:    v1.ResourceList{v1.ResourcePods: resource.MustParse("110")},
			Allocatable: v1.ResourceList{v1.ResourcePods: resource.MustParse("110")},
			Phase:       v1.NodeRunning,
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Unix(1700000200, 0)}},
			Addresses:   []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "10.0.0.7"}},
			NodeInfo:    v1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "kwok"},
			Images:      []v1.ContainerImage{{Names: []string{"fluentd"}, SizeBytes: 1 << 20}},
		},
	}
}

// trimmed objects decode to exactly what controller.Slim keeps of them.
func TestTrimKeepsWhatSlimKeeps(t *testing.T) {
	for name, obj := range map[string]runtime.Object{
		"pod":        richPod("p"),
		"bare pod":   &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
		"node":       richNode("n"),
		"bare node":  &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}},
		"pod list":   &v1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []v1.Pod{*richPod("a"), *richPod("b")}},
		"node list":  &v1.NodeList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []v1.Node{*richNode("a"), *richNode("b")}},
		"empty list": &v1.PodList{},
	} {
		t.Run(name, func(t *testing.T) {
			data := encode(t, obj)
			trimmed := wiretrim.Trim(data)
			got, err := decode(trimmed)
			if err != nil {
				t.Fatalf("decoding the trimmed object: %v", err)
			}
			want, err := decode(data)
			if err != nil {
				t.Fatal(err)
			}
			slimAll(t, want)
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("trimmed object differs from the slimmed one:\n%s", diff.Diff(want, got))
			}
		})
	}
}

// The rich objects really lose bytes (a Trim that did nothing would pass
// the test above); a pod, most of whose encoding the controller never
// reads, loses more than half.
func TestTrimShrinks(t *testing.T) {
	for _, tc := range []struct {
		obj    runtime.Object
		atMost float64
	}{{richPod("p"), 0.5}, {richNode("n"), 0.6}} {
		data := encode(t, tc.obj)
		if n := len(wiretrim.Trim(data)); float64(n) > tc.atMost*float64(len(data)) {
			t.Errorf("%T: trimmed to %d of %d bytes, want at most %.0f%%", tc.obj, n, len(data), 100*tc.atMost)
		}
	}
}

func slimAll(t testing.TB, obj runtime.Object) {
	switch o := obj.(type) {
	case *v1.PodList:
		for i := range o.Items {
			mustSlim(t, &o.Items[i])
		}
	case *v1.NodeList:
		for i := range o.Items {
			mustSlim(t, &o.Items[i])
		}
	default:
		mustSlim(t, obj)
	}
}

func mustSlim(t testing.TB, obj interface{}) {
	if _, err := controller.Slim(obj); err != nil {
		t.Fatal(err)
	}
}

// Other objects, and anything that is not a well-formed envelope, pass
// through as they are, for the real decoder to judge.
func TestTrimPassesThrough(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: meta("ds")}
	pod := encode(t, richPod("p"))
	for name, data := range map[string][]byte{
		"daemonset":        encode(t, ds),
		"json":             []byte(`{"kind":"Pod","apiVersion":"v1"}`),
		"empty":            {},
		"prefix only":      pod[:4],
		"truncated":        pod[:len(pod)-3],
		"bad length":       append(append([]byte{}, pod[:4]...), 0x12, 0xff, 0xff, 0xff, 0x0f),
		"prefix then junk": append(append([]byte{}, pod[:4]...), 0xff, 0xff),
	} {
		if got := wiretrim.Trim(data); !bytes.Equal(got, data) {
			t.Errorf("%s: Trim changed the bytes", name)
		}
	}
}

// Whatever the bytes, Trim does not panic; and whatever pod or node they
// decode to, its encoding trimmed decodes to it slimmed. The encoding is
// made again from the decoded object, as the API server makes it: the
// fuzzer's own bytes may be malformed in ways the generated decoders
// forgive only while other fields follow (a map entry running past its
// end into the next field, for one).
func FuzzTrim(f *testing.F) {
	f.Add(encode(f, richPod("p")))
	f.Add(encode(f, richNode("n")))
	f.Add(encode(f, &v1.PodList{Items: []v1.Pod{*richPod("a")}}))
	f.Add(encode(f, &v1.NodeList{Items: []v1.Node{*richNode("a")}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = wiretrim.Trim(data)
		want, err := decode(data)
		if err != nil {
			return
		}
		switch want.(type) {
		case *v1.Pod, *v1.Node, *v1.PodList, *v1.NodeList:
		default:
			return
		}
		got, err := decode(wiretrim.Trim(encode(t, want)))
		if err != nil {
			t.Fatalf("the object decodes, but trimmed it does not: %v", err)
		}
		slimAll(t, want)
		if !equality.Semantic.DeepEqual(got, want) {
			t.Fatalf("trimmed object differs:\n%s", diff.Diff(want, got))
		}
	})
}

func BenchmarkDecodePod(b *testing.B) {
	data := encode(b, richPod("p"))
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := decode(data)
			if err != nil {
				b.Fatal(err)
			}
			mustSlim(b, obj)
		}
	})
	b.Run("trimmed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := decode(wiretrim.Trim(data))
			if err != nil {
				b.Fatal(err)
			}
			mustSlim(b, obj)
		}
	})
}

func BenchmarkTrimPod(b *testing.B) {
	data := encode(b, richPod("p"))
	b.ReportAllocs()
	for b.Loop() {
		wiretrim.Trim(data)
	}
}
