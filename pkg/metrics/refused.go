package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
)

// refusals follows the API server's answers to the controller's requests:
// it counts the requests refused as unauthenticated (401) or forbidden
// (403), and knows whether the credentials are being rejected right now.
type refusals struct {
	counter  *prometheus.CounterVec
	gauge    prometheus.Gauge
	mu       sync.Mutex
	rejected bool // the latest answer was a 401
	accepted bool // some answer was not: the credentials worked once
}

func newRefusals() *refusals {
	return &refusals{
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "api_requests_refused_total",
			Help: "API requests the API server refused: code 401 (credentials rejected) or 403 (forbidden: RBAC, or admission such as a quota), by verb and resource.",
		}, []string{"code", "verb", "resource"}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "api_credentials_rejected",
			Help: "1 while the API server rejects the controller's credentials (its latest answer was 401 Unauthorized), else 0.",
		}),
	}
}

// observe records one answer of the API server.
func (r *refusals) observe(req *http.Request, code int) {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		r.counter.WithLabelValues(strconv.Itoa(code), Verb(req), Resource(req.URL.Path)).Inc()
	}
	rejected := code == http.StatusUnauthorized
	r.mu.Lock()
	defer r.mu.Unlock()
	was, accepted := r.rejected, r.accepted
	r.rejected, r.accepted = rejected, accepted || !rejected
	switch {
	case rejected == was:
	case rejected:
		r.gauge.Set(1)
		if accepted { // else rejected from the start: main says so, and exits
			klog.Background().Error(nil, "The API server rejected our credentials (401 Unauthorized): every request fails until the token or client certificate is valid again",
				"server", req.URL.Host, "verb", Verb(req), "resource", Resource(req.URL.Path))
		}
	default:
		r.gauge.Set(0)
		klog.Background().Info("The API server accepts our credentials again", "server", req.URL.Host)
	}
}

// CredentialsRejected reports whether the API server's latest answer to
// the controller was 401 Unauthorized.
func (m *Metrics) CredentialsRejected() bool {
	m.refused.mu.Lock()
	defer m.refused.mu.Unlock()
	return m.refused.rejected
}

// WrapTransport lets m see every answer of the API server to a client
// made from a rest.Config (use it as the config's WrapTransport): it counts
// refused requests and follows whether the credentials are rejected.
func (m *Metrics) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			m.refused.observe(req, resp.StatusCode)
		}
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Verb names the API verb of a request as the API server's authorizer
// sees it: get, list, watch, create, update, patch, delete or
// deletecollection; for other paths (/version), the lower-case method.
func Verb(req *http.Request) string {
	resource, named := parsePath(req.URL.Path)
	if !resource {
		return strings.ToLower(req.Method)
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch w := req.URL.Query().Get("watch"); {
		case w == "true" || w == "1":
			return "watch"
		case named:
			return "get"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return strings.ToLower(req.Method)
}

// parsePath reports whether path is a resource path, and whether it names
// one object (or a subresource of one) rather than a collection.
func parsePath(path string) (resource, named bool) {
	s := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(s) >= 3 && s[0] == "api":
		s = s[2:]
	case len(s) >= 4 && s[0] == "apis":
		s = s[3:]
	default:
		return false, false
	}
	if len(s) >= 3 && s[0] == "namespaces" {
		s = s[2:]
	}
	return true, len(s) >= 2
}
