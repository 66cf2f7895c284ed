package metrics

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/client-go/util/workqueue"
)

// RegisterClientGo makes client-go report its workqueue and REST client
// metrics to m's registry. client-go accepts this once per process.
func (m *Metrics) RegisterClientGo() {
	workqueue.SetProvider(newQueueProvider(m.Registry))
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rest_client_request_duration_seconds", Help: "API request latency, by verb and resource.",
		Buckets: prometheus.ExponentialBucketsRange(0.001, 60, 17),
	}, []string{"verb", "resource"})
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rest_client_requests_total", Help: "API requests, by status code, method and host.",
	}, []string{"code", "method", "host"})
	limiter := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rest_client_rate_limiter_duration_seconds", Help: "Time API requests waited for the client-side rate limiter, by verb.",
		Buckets: prometheus.ExponentialBucketsRange(0.001, 60, 17),
	}, []string{"verb"})
	m.Registry.MustRegister(latency, results, limiter)
	m.limiterWait = limiter
	clientmetrics.Register(clientmetrics.RegisterOpts{
		RequestLatency:     latencyAdapter{latency},
		RequestResult:      resultAdapter{results},
		RateLimiterLatency: limiterAdapter{limiter},
	})
}

type latencyAdapter struct{ h *prometheus.HistogramVec }

func (a latencyAdapter) Observe(_ context.Context, verb string, u url.URL, d time.Duration) {
	a.h.WithLabelValues(verb, Resource(u.Path)).Observe(d.Seconds())
}

type resultAdapter struct{ c *prometheus.CounterVec }

func (a resultAdapter) Increment(_ context.Context, code, method, host string) {
	a.c.WithLabelValues(code, method, host).Inc()
}

// ObserveRateLimiter records in client-go's rate limiter metric a wait
// for a limiter client-go does not know of (prioritylimit's transport).
// It does nothing before RegisterClientGo.
func (m *Metrics) ObserveRateLimiter(method string, waited time.Duration) {
	if m.limiterWait != nil {
		m.limiterWait.WithLabelValues(method).Observe(waited.Seconds())
	}
}

type limiterAdapter struct{ h *prometheus.HistogramVec }

func (a limiterAdapter) Observe(_ context.Context, verb string, _ url.URL, d time.Duration) {
	a.h.WithLabelValues(verb).Observe(d.Seconds())
}

// Resource names the resource (and subresource) of an API path without
// namespaces or object names, so the label stays bounded:
// /api/v1/namespaces/ns/pods/p/status -> "pods/status".
func Resource(path string) string {
	s := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(s) >= 2 && s[0] == "api":
		s = s[2:]
	case len(s) >= 3 && s[0] == "apis":
		s = s[3:]
	default:
		return "other"
	}
	if len(s) >= 2 && s[0] == "namespaces" {
		s = s[2:]
	}
	switch len(s) {
	case 0:
		return "namespaces"
	case 1, 2:
		return s[0]
	default:
		return s[0] + "/" + s[2]
	}
}

// queueProvider implements workqueue.MetricsProvider with the metric names
// kube-controller-manager uses.
type queueProvider struct {
	depth, unfinished, longest *prometheus.GaugeVec
	adds, retries              *prometheus.CounterVec
	latency, work              *prometheus.HistogramVec
}

func newQueueProvider(r prometheus.Registerer) *queueProvider {
	buckets := prometheus.ExponentialBuckets(1e-6, 10, 10)
	p := &queueProvider{
		depth:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "workqueue_depth", Help: "Current depth of the workqueue."}, []string{"name"}),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "workqueue_unfinished_work_seconds", Help: "Seconds of work in progress that has not been observed by work_duration."}, []string{"name"}),
		longest:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "workqueue_longest_running_processor_seconds", Help: "Seconds the longest running processor has been running."}, []string{"name"}),
		adds:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "workqueue_adds_total", Help: "Adds handled by the workqueue."}, []string{"name"}),
		retries:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "workqueue_retries_total", Help: "Retries handled by the workqueue."}, []string{"name"}),
		latency:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "workqueue_queue_duration_seconds", Help: "Seconds an item stays in the workqueue before it is requested.", Buckets: buckets}, []string{"name"}),
		work:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "workqueue_work_duration_seconds", Help: "Seconds processing an item from the workqueue takes.", Buckets: buckets}, []string{"name"}),
	}
	r.MustRegister(p.depth, p.unfinished, p.longest, p.adds, p.retries, p.latency, p.work)
	return p
}

func (p *queueProvider) NewDepthMetric(n string) workqueue.GaugeMetric {
	return p.depth.WithLabelValues(n)
}
func (p *queueProvider) NewAddsMetric(n string) workqueue.CounterMetric {
	return p.adds.WithLabelValues(n)
}
func (p *queueProvider) NewLatencyMetric(n string) workqueue.HistogramMetric {
	return p.latency.WithLabelValues(n)
}
func (p *queueProvider) NewWorkDurationMetric(n string) workqueue.HistogramMetric {
	return p.work.WithLabelValues(n)
}
func (p *queueProvider) NewUnfinishedWorkSecondsMetric(n string) workqueue.SettableGaugeMetric {
	return p.unfinished.WithLabelValues(n)
}
func (p *queueProvider) NewLongestRunningProcessorSecondsMetric(n string) workqueue.SettableGaugeMetric {
	return p.longest.WithLabelValues(n)
}
func (p *queueProvider) NewRetriesMetric(n string) workqueue.CounterMetric {
	return p.retries.WithLabelValues(n)
}
