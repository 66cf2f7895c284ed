package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"github.com/daemonset-controller/daemonset-controller/pkg/controller"
	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/serve"
)

// listen binds the metrics and health endpoints (either may be off).
func listen(o options, client kubernetes.Interface, ctrl *controller.Controller, m *metrics.Metrics, el *elector) ([]*serve.Server, error) {
	var out []*serve.Server

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/debug/plan", func(w http.ResponseWriter, _ *http.Request) {
		if !o.shadow {
			http.Error(w, "the plan is published in --shadow mode only", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ctrl.ShadowPlans())
	})
	var h http.Handler = mux
	tlsConfig, err := serve.TLSConfig(o.tlsCertFile, o.tlsKeyFile)
	if err != nil {
		return nil, err
	}
	if o.metricsInsecure {
		tlsConfig = nil
	} else {
		h = serve.NewAuthorizer(client).Wrap(mux)
	}
	ms, err := serve.Listen("metrics", o.metricsAddr, h, tlsConfig)
	if err != nil {
		return nil, err
	}
	if ms != nil {
		out = append(out, ms)
	}

	alive := map[string]serve.Check{"workers": func(*http.Request) error { return ctrl.Healthy() }}
	if el != nil {
		alive["leader-election"] = func(*http.Request) error { return el.healthy() }
	}
	ready := map[string]serve.Check{
		"caches": func(*http.Request) error {
			return ctrl.CacheSyncError()
		},
		// Caches stop following the cluster while the credentials are
		// rejected: nothing the controller would do could be trusted.
		"credentials": func(*http.Request) error {
			if m.CredentialsRejected() {
				return errors.New("the API server rejected our credentials (401 Unauthorized)")
			}
			return nil
		},
	}
	health := http.NewServeMux()
	health.Handle("/healthz", serve.HealthHandler(alive))
	health.Handle("/readyz", serve.HealthHandler(ready))
	if o.profiling {
		health.HandleFunc("/debug/pprof/", pprof.Index)
		health.HandleFunc("/debug/pprof/profile", pprof.Profile)
		health.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hs, err := serve.Listen("health", o.healthAddr, health, nil)
	if err != nil {
		return nil, err
	}
	if hs != nil {
		out = append(out, hs)
	}
	return out, nil
}
