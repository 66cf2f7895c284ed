package controller

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
