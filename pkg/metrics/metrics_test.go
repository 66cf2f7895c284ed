package metrics

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResource(t *testing.T) {
	cases := map[string]string{
		"/api/v1/namespaces/ns/pods":                                   "pods",
		"/api/v1/namespaces/ns/pods/p":                                 "pods",
		"/api/v1/namespaces/ns/pods/p/status":                          "pods/status",
		"/api/v1/nodes":                                                "nodes",
		"/api/v1/nodes/n1":                                             "nodes",
		"/apis/apps/v1/namespaces/ns/daemonsets/ds/status":             "daemonsets/status",
		"/apis/apps/v1/controllerrevisions":                            "controllerrevisions",
		"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x": "leases",
		"/api/v1/namespaces/ns":                                        "namespaces",
		"/version":                                                     "other",
		"/apis":                                                        "other",
	}
	for path, want := range cases {
		if got := Resource(path); got != want {
			t.Errorf("Resource(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestLint: names, help and types follow Prometheus conventions (the same
// checks as promtool check metrics).
func TestLint(t *testing.T) {
	m := New(func() (int, int) { return 2, 1 })
	m.SyncDuration.WithLabelValues(ResultSuccess).Observe(0.01)
	m.Syncs.WithLabelValues(ResultSuccess).Inc()
	m.PodsCreated.WithLabelValues(ResultSuccess).Inc()
	m.PodsDeleted.WithLabelValues(ResultError).Inc()
	m.Throttled.WithLabelValues("burst").Inc()
	m.DaemonSetPods.WithLabelValues("ns", "ds", "desired").Set(3)
	m.ShadowPlanned.WithLabelValues("ns", "ds", "create").Set(0)
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	want := `
# HELP daemonset_controller_pending_expectations Pod creations and deletions issued and not yet seen in the informer cache, by kind.
# TYPE daemonset_controller_pending_expectations gauge
daemonset_controller_pending_expectations{kind="creations"} 2
daemonset_controller_pending_expectations{kind="deletions"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "daemonset_controller_pending_expectations"); err != nil {
		t.Error(err)
	}
}

// TestGoMaxProcs: the README points at this metric for the number of Ps
// the controller follows its load with (pkg/procs).
func TestGoMaxProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	m := New(nil)
	want := `
# HELP go_sched_gomaxprocs_threads The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.
# TYPE go_sched_gomaxprocs_threads gauge
go_sched_gomaxprocs_threads 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "go_sched_gomaxprocs_threads"); err != nil {
		t.Error(err)
	}
}
