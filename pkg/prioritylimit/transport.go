package prioritylimit

import (
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// Transport returns a wrapper for a rest.Config's WrapTransport that makes
// every request wait for a token from l, at its context's priority, before
// it is sent; observe, when not nil, learns how long each sent request
// waited. Use it in place of rest.Config.RateLimiter, with QPS set to -1 so
// that client-go adds no limiter of its own.
//
// Why not client-go's RateLimiter hook: client-go formats the request's
// URL for a log line whenever a request waited over 50 ms, which at the
// client's QPS limit is nearly every request, and a URL template for its
// metric. In a 3,000-node rollout at the default limits that was 7% of the
// controller's CPU. Here a wait costs the token and nothing else. Retries
// still wait: each attempt is a round trip of its own.
func (l *Limiter) Transport(observe func(method string, waited time.Duration)) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return &limitedTransport{limiter: l, next: rt, observe: observe}
	}
}

type limitedTransport struct {
	limiter *Limiter
	next    http.RoundTripper
	observe func(method string, waited time.Duration)
}

// slowWait is how long a request waits before the wait is logged (at
// verbosity 3), as client-go logs its long throttling waits.
const slowWait = time.Second

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	if err := t.limiter.Wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	waited := time.Since(start)
	if t.observe != nil {
		t.observe(req.Method, waited)
	}
	if waited > slowWait {
		if logger := klog.FromContext(req.Context()).V(3); logger.Enabled() {
			logger.Info("Waited for the client-side rate limiter", "delay", waited, "verb", req.Method, "path", req.URL.Path)
		}
	}
	return t.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go's utilities (closing idle
// connections, finding the TLS config) see the transport underneath.
func (t *limitedTransport) WrappedRoundTripper() http.RoundTripper { return t.next }
