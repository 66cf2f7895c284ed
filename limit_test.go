package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
)

// TestLimitRequests: the controller's clients wait for the priority
// limiter in their transport and client-go throttles nothing itself, so
// every request, the core/v1 client's (see newClient) included, pays
// exactly one token.
func TestLimitRequests(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, contentType := range []string{protobuf, jsonType} {
		served.Store(0)
		l := prioritylimit.New(0.001, 2) // no third token during the test
		cfg := &rest.Config{Host: srv.URL, QPS: 20, Burst: 30}
		cfg.ContentType = contentType
		var waits atomic.Int32
		limitRequests(cfg, l, func(string, time.Duration) { waits.Add(1) })
		client, err := newClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rl := client.CoreV1().RESTClient().GetRateLimiter(); rl != nil {
			t.Fatalf("%s: client-go added a rate limiter of its own: %T", contentType, rl)
		}
		if rl := client.AppsV1().RESTClient().GetRateLimiter(); rl != nil {
			t.Fatalf("%s: client-go added a rate limiter of its own to apps/v1: %T", contentType, rl)
		}
		ctx := context.Background()
		_, _ = client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
		_, _ = client.AppsV1().DaemonSets("ns").Get(ctx, "ds", metav1.GetOptions{})
		if n := served.Load(); n != 2 {
			t.Fatalf("%s: the server saw %d requests, want 2", contentType, n)
		}
		if l.TryAccept() {
			t.Fatalf("%s: two requests left a token of a burst of 2", contentType)
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = client.CoreV1().Pods("ns").Get(short, "p", metav1.GetOptions{})
		cancel()
		if err == nil || served.Load() != 2 {
			t.Fatalf("%s: a request without a token was sent (err %v, %d served)", contentType, err, served.Load())
		}
		if n := waits.Load(); n != 2 {
			t.Fatalf("%s: %d waits observed, want 2", contentType, n)
		}
		l.Stop()
	}
}
