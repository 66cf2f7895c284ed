package controller

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

// TestCacheSyncError: while RBAC forbids listing nodes, the node cache
// never syncs; the controller is not ready, says which cache and why, and
// logs it while it waits. Once the list is allowed, it syncs.
func TestCacheSyncError(t *testing.T) {
	client := fake.NewClientset()
	forbid := make(chan struct{}) // open while nodes are forbidden
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case <-forbid:
			return false, nil, nil
		default:
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "",
			errorString(`User "x" cannot list resource "nodes" in API group "" at the cluster scope`))
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory, record.NewFakeRecorder(10), Options{BurstReplicas: 10})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(),
		textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&log)))))
	factory.Start(ctx.Done())
	defer func() {
		cancel()
		factory.Shutdown()
	}()

	waitCtx, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	if c.waitForCaches(waitCtx, 500*time.Millisecond) {
		t.Fatal("caches synced with nodes forbidden")
	}
	err = c.CacheSyncError()
	if err == nil || c.HasSynced() {
		t.Fatal("no cache sync error with nodes forbidden")
	}
	for _, want := range []string{"informer caches not synced: nodes (", `nodes is forbidden: User "x" cannot list resource "nodes"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	for _, other := range []string{"pods", "daemonsets", "controllerrevisions", "priorityclasses"} {
		if strings.Contains(err.Error(), other) {
			t.Errorf("%q names %s, which synced", err, other)
		}
	}
	if !strings.Contains(log.String(), "Still waiting for informer caches to sync") || !strings.Contains(log.String(), "nodes is forbidden") {
		t.Errorf("the log does not say what the controller waits for:\n%s", log.String())
	}

	close(forbid)
	waitCtx, stop = context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if !c.waitForCaches(waitCtx, time.Minute) || c.CacheSyncError() != nil {
		t.Fatalf("not synced once nodes are allowed: %v", c.CacheSyncError())
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestSlim: the transform keeps what the controller reads of pods and
// nodes and drops the bulk.
func TestSlim(t *testing.T) {
	now := metav1.Now()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}, DeletionTimestamp: &now,
			OwnerReferences: []metav1.OwnerReference{{UID: "ds"}}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: v1.PodSpec{NodeName: "n1", Affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{}},
			Containers: []v1.Container{{Name: "c", Image: "i"}}, Volumes: []v1.Volume{{Name: "v"}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}},
			ContainerStatuses: []v1.ContainerStatus{{Name: "c"}}},
	}
	want := pod.DeepCopy()
	want.ManagedFields = nil
	want.Spec = v1.PodSpec{NodeName: "n1", Affinity: pod.Spec.Affinity}
	want.Status.ContainerStatuses = nil
	if got, _ := Slim(pod); !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("slim pod = %+v, want %+v", got, want)
	}

	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
		Spec:       v1.NodeSpec{Taints: []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}, PodCIDR: "10.0.0.0/24"},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
			Images: []v1.ContainerImage{{Names: []string{"i"}}}, NodeInfo: v1.NodeSystemInfo{KubeletVersion: "v1"}},
	}
	wantNode := node.DeepCopy()
	wantNode.Spec.PodCIDR = ""
	wantNode.Status = v1.NodeStatus{Conditions: node.Status.Conditions}
	if got, _ := Slim(node); !apiequality.Semantic.DeepEqual(got, wantNode) {
		t.Errorf("slim node = %+v, want %+v", got, wantNode)
	}

	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ds", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: appsv1.DaemonSetSpec{MinReadySeconds: 3}}
	if got, _ := Slim(ds); got.(*appsv1.DaemonSet).ManagedFields != nil || got.(*appsv1.DaemonSet).Spec.MinReadySeconds != 3 {
		t.Errorf("slim DaemonSet = %+v: want only managedFields gone", got)
	}
}
