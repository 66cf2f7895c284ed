package controller

import (
	"context"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
	"github.com/daemonset-controller/daemonset-controller/pkg/rollout"
)

// ShadowPlan is what the controller would do for one DaemonSet right now.
type ShadowPlan struct {
	Create []string  `json:"create"` // nodes that would get a pod
	Delete []string  `json:"delete"` // pods that would be deleted
	At     time.Time `json:"at"`
}

// shadowPlans keeps the latest plan per DaemonSet in --shadow mode.
type shadowPlans struct {
	mu      sync.Mutex
	plans   map[string]ShadowPlan
	metrics *metrics.Metrics
}

func newShadowPlans(m *metrics.Metrics) *shadowPlans {
	return &shadowPlans{plans: map[string]ShadowPlan{}, metrics: m}
}

func (s *shadowPlans) set(ds *appsv1.DaemonSet, p ShadowPlan) {
	s.mu.Lock()
	s.plans[key(ds)] = p
	s.mu.Unlock()
	s.metrics.ShadowPlanned.WithLabelValues(ds.Namespace, ds.Name, "create").Set(float64(len(p.Create)))
	s.metrics.ShadowPlanned.WithLabelValues(ds.Namespace, ds.Name, "delete").Set(float64(len(p.Delete)))
}

func (s *shadowPlans) forget(k string) {
	s.mu.Lock()
	delete(s.plans, k)
	s.mu.Unlock()
	ns, name, _ := cache.SplitMetaNamespaceKey(k)
	s.metrics.ShadowPlanned.DeleteLabelValues(ns, name, "create")
	s.metrics.ShadowPlanned.DeleteLabelValues(ns, name, "delete")
}

// ShadowPlans returns the latest plan of every DaemonSet, in --shadow mode.
func (c *Controller) ShadowPlans() map[string]ShadowPlan {
	if c.shadow == nil {
		return nil
	}
	c.shadow.mu.Lock()
	defer c.shadow.mu.Unlock()
	out := make(map[string]ShadowPlan, len(c.shadow.plans))
	for k, v := range c.shadow.plans {
		out[k] = v
	}
	return out
}

// shadowSync records what a sync would do, and does none of it.
func (c *Controller) shadowSync(ctx context.Context, ds *appsv1.DaemonSet, in plan.Input) {
	p := plan.Compute(in)
	sp := ShadowPlan{Create: append([]string{}, p.CreateOn...), At: c.opts.Now()}
	for _, group := range [][]*v1.Pod{p.Delete, p.Failed, p.Succeeded, p.Lost} {
		sp.Delete = append(sp.Delete, podNames(group)...)
	}
	if len(sp.Create) == 0 && len(sp.Delete) == 0 && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if step, err := rollout.RollingUpdate(in, ds.Spec.UpdateStrategy.RollingUpdate, templateGeneration(ds)); err == nil {
			sp.Create = append(sp.Create, step.CreateOn...)
			sp.Delete = append(sp.Delete, podNames(step.Delete)...)
		}
	}
	sort.Strings(sp.Create)
	sort.Strings(sp.Delete)
	c.shadow.set(ds, sp)
	if len(sp.Create) > 0 || len(sp.Delete) > 0 {
		klog.FromContext(ctx).Info("Shadow plan is not empty", "create", sp.Create, "delete", sp.Delete)
	}
}

func podNames(pods []*v1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}
