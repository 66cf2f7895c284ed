package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	pbserializer "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// TestInformerClientTrimsPods: pods reach the informers' cache through the
// protobuf client already trimmed, whether the informer lists them or
// streams them as a watch-list.
func TestInformerClientTrimsPods(t *testing.T) {
	grace := int64(5)
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "1",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kwok"}}},
		Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "c", Image: "i"}}, TerminationGracePeriodSeconds: &grace},
		Status: v1.PodStatus{Phase: v1.PodRunning, HostIP: "10.0.0.1",
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}},
	}
	serializer := pbserializer.NewSerializer(scheme.Scheme, scheme.Scheme)
	encode := func(obj runtime.Object) []byte {
		var b bytes.Buffer
		if err := scheme.Codecs.EncoderForVersion(serializer, v1.SchemeGroupVersion).Encode(obj, &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	frame := func(w http.ResponseWriter, typ string, obj runtime.Object) {
		ev := metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: encode(obj)}}
		data, err := ev.Marshal()
		if err != nil {
			t.Error(err)
		}
		_ = binary.Write(w, binary.BigEndian, uint32(len(data)))
		_, _ = w.Write(data)
		w.(http.Flusher).Flush()
	}
	for _, watchList := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			switch {
			case r.URL.Path != "/api/v1/pods":
				http.NotFound(w, r)
			case q.Get("watch") != "true":
				if watchList {
					http.Error(w, "list not expected", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", protobuf)
				_, _ = w.Write(encode(&v1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: []v1.Pod{*pod}}))
			default:
				w.Header().Set("Content-Type", protobuf+";stream=watch")
				if q.Get("sendInitialEvents") == "true" {
					frame(w, "ADDED", pod)
					frame(w, "BOOKMARK", &v1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1",
						Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
				}
				<-r.Context().Done()
			}
		}))
		cfg := &rest.Config{Host: srv.URL}
		cfg.ContentType, cfg.AcceptContentTypes = protobuf, protobuf
		client, err := newClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		factory := informers.NewSharedInformerFactory(client, 0)
		inf := factory.Core().V1().Pods().Informer()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		factory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			t.Fatalf("watchList=%v: cache did not sync", watchList)
		}
		obj, ok, _ := inf.GetStore().GetByKey("ns/p")
		if !ok {
			t.Fatalf("watchList=%v: pod not in the cache", watchList)
		}
		got := obj.(*v1.Pod)
		if len(got.Spec.Containers) != 0 || got.Spec.TerminationGracePeriodSeconds != nil || got.Status.HostIP != "" || got.ManagedFields != nil {
			t.Errorf("watchList=%v: cached pod not trimmed: %d containers, grace %v, hostIP %q, %d managed fields",
				watchList, len(got.Spec.Containers), got.Spec.TerminationGracePeriodSeconds, got.Status.HostIP, len(got.ManagedFields))
		}
		if got.Spec.NodeName != "n1" || got.Status.Phase != v1.PodRunning || len(got.Status.Conditions) != 1 {
			t.Errorf("watchList=%v: cached pod lost what the controller reads: node %q, phase %q, %d conditions",
				watchList, got.Spec.NodeName, got.Status.Phase, len(got.Status.Conditions))
		}
		cancel()
		factory.Shutdown()
		srv.Close()
	}
}
