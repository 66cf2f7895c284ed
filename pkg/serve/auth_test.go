package serve

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeAPI authenticates "good" and "reader" tokens; only "reader" may get
// /metrics.
func fakeAPI() (*fake.Clientset, *int) {
	calls := new(int)
	c := fake.NewClientset()
	c.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*calls++
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview)
		switch tr.Spec.Token {
		case "good", "reader":
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: tr.Spec.Token}}
		}
		return true, tr, nil
	})
	c.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*calls++
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview)
		sar.Status.Allowed = sar.Spec.User == "reader" && sar.Spec.NonResourceAttributes.Path == "/metrics" &&
			sar.Spec.NonResourceAttributes.Verb == "get"
		return true, sar, nil
	})
	return c, calls
}

func TestAuthorizer(t *testing.T) {
	client, calls := fakeAPI()
	a := NewAuthorizer(client)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	do := func(path, auth string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		path, auth string
		want       int
	}{
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "Basic abc", http.StatusUnauthorized},
		{"/metrics", "Bearer bad", http.StatusUnauthorized},
		{"/metrics", "Bearer good", http.StatusForbidden},
		{"/metrics", "Bearer reader", http.StatusOK},
		{"/debug/plan", "Bearer reader", http.StatusForbidden},
	}
	for _, tc := range cases {
		if got := do(tc.path, tc.auth); got != tc.want {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.auth, got, tc.want)
		}
	}
	// Results are cached: a scraper costs two reviews per TTL, not per scrape.
	before := *calls
	for i := 0; i < 5; i++ {
		do("/metrics", "Bearer reader")
	}
	if *calls != before {
		t.Errorf("%d reviews for cached scrapes, want 0", *calls-before)
	}
	now = now.Add(authCacheTTL + time.Second)
	do("/metrics", "Bearer reader")
	if *calls != before+2 {
		t.Errorf("%d reviews after the cache expired, want 2", *calls-before)
	}
}

func TestHealthHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	HealthHandler(map[string]Check{"ok": func(*http.Request) error { return nil }}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthy: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	HealthHandler(map[string]Check{"bad": func(*http.Request) error { return http.ErrHandlerTimeout }}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 500 {
		t.Errorf("unhealthy: %d", rec.Code)
	}
}

func TestTLSConfig(t *testing.T) {
	if _, err := TLSConfig("", ""); err != nil {
		t.Fatalf("self-signed: %v", err)
	}
	if _, err := TLSConfig("cert.pem", ""); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}
