// Package metrics holds the controller's Prometheus metrics, on a registry
// of its own, and adapts client-go's workqueue and REST client metrics to it.
package metrics

import (
	"runtime"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "daemonset_controller"

// Sync results: the bounded values of the result label.
const (
	ResultSuccess = "success"
	ResultError   = "error"
	ResultRequeue = "requeue"
)

// Reasons a status write was deferred (status_writes_deferred_total).
const (
	StatusInterval = "interval"
	StatusBusy     = "busy"
)

// Build information, set at link time with -X.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Metrics are the controller's own metrics.
type Metrics struct {
	Registry *prometheus.Registry

	SyncDuration     *prometheus.HistogramVec
	Syncs            *prometheus.CounterVec
	PodsCreated      *prometheus.CounterVec
	PodsDeleted      *prometheus.CounterVec
	Throttled        *prometheus.CounterVec
	FailedPodBackoff prometheus.Counter
	StatusDeferred   *prometheus.CounterVec
	Leader           prometheus.Gauge
	ShadowPlanned    *prometheus.GaugeVec
	DaemonSetPods    *prometheus.GaugeVec

	pending     atomic.Pointer[func() (int, int)]
	refused     *refusals
	limiterWait *prometheus.HistogramVec // set by RegisterClientGo
}

// New registers every metric on a fresh registry. pending (or a later
// SetPending) reports the creations and deletions expectations wait for.
func New(pending func() (creations, deletions int)) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sync_duration_seconds",
			Help: "Time to sync one DaemonSet, by result.",
			// 1 ms to 60 s.
			Buckets: prometheus.ExponentialBucketsRange(0.001, 60, 17),
		}, []string{"result"}),
		Syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "syncs_total", Help: "DaemonSet syncs, by result.",
		}, []string{"result"}),
		PodsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "pods_created_total", Help: "Daemon pod creations, by result.",
		}, []string{"result"}),
		PodsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "pods_deleted_total", Help: "Daemon pod deletions, by result.",
		}, []string{"result"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "creations_throttled_total",
			Help: "Pod creations put off, by reason: expectations (waiting for the cache), slow_start (a batch failed), burst (over --burst-replicas), backoff (creations were refused lately) or yield (a more urgent DaemonSet waited for a worker).",
		}, []string{"reason"}),
		FailedPodBackoff: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "failed_pod_backoffs_total",
			Help: "Failed daemon pods left in place for now because their node is in backoff.",
		}),
		StatusDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "status_writes_deferred_total",
			Help: "Status writes that only reported progress, held back to the end of the status interval and made then with the counts of that moment, by reason: interval (--status-interval) or busy (the longer interval while the client is at its rate limit).",
		}, []string{"reason"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "leader", Help: "1 while this process is the leader and writes, else 0.",
		}),
		ShadowPlanned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "shadow_planned_pods",
			Help: "In --shadow mode: pods the controller would create or delete now, by DaemonSet and action.",
		}, []string{"namespace", "daemonset", "action"}),
	}
	m.refused = newRefusals()
	m.DaemonSetPods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "daemonset_pods",
		Help: "Pods of each DaemonSet by state (desired, current, misscheduled, ready, updated, available, unavailable), as last computed for its status.",
	}, []string{"namespace", "daemonset", "state"})
	// Export every known series from the start, at zero, so that queries
	// and alerts see a zero rather than nothing.
	for _, r := range []string{ResultSuccess, ResultError, ResultRequeue} {
		m.SyncDuration.WithLabelValues(r)
		m.Syncs.WithLabelValues(r)
	}
	for _, r := range []string{ResultSuccess, ResultError} {
		m.PodsCreated.WithLabelValues(r)
		m.PodsDeleted.WithLabelValues(r)
	}
	for _, r := range []string{"expectations", "slow_start", "burst", "backoff", "yield"} {
		m.Throttled.WithLabelValues(r)
	}
	for _, r := range []string{StatusInterval, StatusBusy} {
		m.StatusDeferred.WithLabelValues(r)
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info", Help: "Build information; the value is always 1.",
	}, []string{"version", "commit", "go_version"})
	build.WithLabelValues(Version, Commit, runtime.Version()).Set(1)
	if pending != nil {
		m.SetPending(pending)
	}
	pendingDesc := prometheus.NewDesc(namespace+"_pending_expectations",
		"Pod creations and deletions issued and not yet seen in the informer cache, by kind.", []string{"kind"}, nil)
	r.MustRegister(m.SyncDuration, m.Syncs, m.PodsCreated, m.PodsDeleted, m.Throttled, m.FailedPodBackoff,
		m.StatusDeferred, m.Leader, m.ShadowPlanned, m.DaemonSetPods, build, m.refused.counter, m.refused.gauge,
		collectorFunc{desc: pendingDesc, collect: func(ch chan<- prometheus.Metric) {
			c, d := 0, 0
			if f := m.pending.Load(); f != nil {
				c, d = (*f)()
			}
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(c), "creations")
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(d), "deletions")
		}},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// collectorFunc is a collector computed at scrape time.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// SetPending sets the source of the pending-expectations gauge.
func (m *Metrics) SetPending(f func() (creations, deletions int)) { m.pending.Store(&f) }
