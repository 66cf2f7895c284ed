package metrics

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestVerb(t *testing.T) {
	cases := []struct{ method, url, want string }{
		{"GET", "/api/v1/namespaces/ns/pods", "list"},
		{"GET", "/api/v1/pods?watch=true&sendInitialEvents=true", "watch"},
		{"GET", "/api/v1/nodes/n1", "get"},
		{"GET", "/api/v1/namespaces/ns", "get"},
		{"GET", "/api/v1/namespaces", "list"},
		{"GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", "get"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", "update"},
		{"POST", "/api/v1/namespaces/ns/pods", "create"},
		{"PUT", "/apis/apps/v1/namespaces/ns/daemonsets/ds/status", "update"},
		{"PATCH", "/api/v1/namespaces/ns/pods/p", "patch"},
		{"DELETE", "/api/v1/namespaces/ns/pods/p", "delete"},
		{"DELETE", "/api/v1/namespaces/ns/pods", "deletecollection"},
		{"GET", "/version", "get"},
		{"GET", "/apis/apps/v1", "get"},
		{"OPTIONS", "/api", "options"},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, "https://api.example:6443"+tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := Verb(req); got != tc.want {
			t.Errorf("Verb(%s %s) = %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

// TestWrapTransport: refused requests are counted by code, verb and
// resource; the credentials gauge follows the latest answer.
func TestWrapTransport(t *testing.T) {
	m := New(nil)
	code := 200
	rt := m.WrapTransport(roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: code, Body: http.NoBody}, nil
	}))
	do := func(c int, method, url string) {
		t.Helper()
		code = c
		req, _ := http.NewRequest(method, "https://api.example:6443"+url, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	do(200, "GET", "/api/v1/nodes")
	if m.CredentialsRejected() {
		t.Error("rejected after a 200")
	}
	do(403, "POST", "/api/v1/namespaces/ns/pods")
	do(403, "POST", "/api/v1/namespaces/other/pods")
	do(403, "GET", "/api/v1/nodes?watch=1")
	if m.CredentialsRejected() {
		t.Error("rejected after a 403: the credentials were accepted")
	}
	do(401, "GET", "/api/v1/pods")
	do(401, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l")
	if !m.CredentialsRejected() {
		t.Error("not rejected after a 401")
	}
	want := `
# HELP daemonset_controller_api_credentials_rejected 1 while the API server rejects the controller's credentials (its latest answer was 401 Unauthorized), else 0.
# TYPE daemonset_controller_api_credentials_rejected gauge
daemonset_controller_api_credentials_rejected 1
# HELP daemonset_controller_api_requests_refused_total API requests the API server refused: code 401 (credentials rejected) or 403 (forbidden: RBAC, or admission such as a quota), by verb and resource.
# TYPE daemonset_controller_api_requests_refused_total counter
daemonset_controller_api_requests_refused_total{code="401",resource="leases",verb="update"} 1
daemonset_controller_api_requests_refused_total{code="401",resource="pods",verb="list"} 1
daemonset_controller_api_requests_refused_total{code="403",resource="nodes",verb="watch"} 1
daemonset_controller_api_requests_refused_total{code="403",resource="pods",verb="create"} 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"daemonset_controller_api_credentials_rejected", "daemonset_controller_api_requests_refused_total"); err != nil {
		t.Error(err)
	}
	do(200, "GET", "/api/v1/pods")
	if m.CredentialsRejected() || testutil.ToFloat64(m.refused.gauge) != 0 {
		t.Error("still rejected after a 200")
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
