package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestWaitForServer: answers that waiting cannot change end the wait at
// once, with a message that says what is wrong.
func TestWaitForServer(t *testing.T) {
	status := func(code int, reason string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"` + reason + `","code":` + strconv.Itoa(code) + `}`))
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		trust   bool
		want    string
	}{
		{"401", status(401, "Unauthorized"), true, "rejected our credentials (401 Unauthorized)"},
		{"403", status(403, "Forbidden"), true, "accepted our credentials but forbids reading its version (403 Forbidden)"},
		{"untrusted certificate", status(200, ""), false, "presented a certificate the kubeconfig does not trust (check its certificate-authority)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tc.handler)
			defer srv.Close()
			cfg := &rest.Config{Host: srv.URL, BearerToken: "t"}
			if tc.trust {
				cfg.Insecure = true
			}
			start := time.Now()
			err := waitForServer(context.Background(), cfg, 20*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %v, want one that says %q about %s", err, tc.want, srv.URL)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: retried an answer that waiting cannot change", d)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		err := waitForServer(context.Background(), &rest.Config{Host: srv.URL}, time.Second)
		if err == nil || !strings.Contains(err.Error(), "cannot reach the API server at "+srv.URL) {
			t.Errorf("error %v", err)
		}
	})
}
