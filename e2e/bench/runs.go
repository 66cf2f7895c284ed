package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
)

// cost is what a controller process spent during a run.
type cost struct {
	CPUSeconds float64
	// StartCPUSeconds: of CPUSeconds, what the process had spent just
	// before the DaemonSet was created (its start and caches, on a bed
	// that already has its nodes). Zero where not measured.
	StartCPUSeconds float64
	// RestCPUPerMinute: CPU seconds per minute once the rollout is Ready,
	// measured over -rest. Zero where not measured.
	RestCPUPerMinute float64
	PeakRSSMiB       float64
	Requests         map[string]float64 // controller-attributable API requests, by verb and resource
}

type rolloutResult struct {
	Controller, Limits string
	Nodes              int
	Busy               bool
	// Created and First: to the n-th and the first pod created, by the API
	// server's audit log (microseconds, unlike creationTimestamp). Seen:
	// to the n-th pod seen by the bench's watch, which the API server
	// sometimes delivers in bursts after a pause under load. Ready: to the
	// n-th pod seen Ready.
	Created, First, Seen, Ready time.Duration
	Cost                        cost
	Timeline                    []podEvent // "api-created" (audit), "created" (seen) and "ready", by pod
}

func (r rolloutResult) String() string {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("%s %s n=%d busy=%v first=%v created=%v seen=%v ready=%v cpu=%.2fs (%.2fs before the DaemonSet) rest=%.2fs/min rss=%.0fMiB",
		r.Controller, r.Limits, r.Nodes, r.Busy, ms(r.First), ms(r.Created), ms(r.Seen), ms(r.Ready), r.Cost.CPUSeconds, r.Cost.StartCPUSeconds, r.Cost.RestCPUPerMinute, r.Cost.PeakRSSMiB)
}

// benchAudit has the API server log every pod and DaemonSet creation in
// my-kube, by anyone, and nothing else: the creations' own clock, the
// same cost for every controller.
var benchAudit = []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create"]
  namespaces: ["my-kube"]
  resources:
  - group: ""
    resources: ["pods"]
  - group: "apps"
    resources: ["daemonsets"]
- level: None
`)

// await waits until pc has seen r.Nodes pods Ready, then sets the times
// from start and the timeline: seen and ready from pc, created from the
// audit log.
func (r *rolloutResult) await(ctx context.Context, b *bed.Bed, pc *podClock, start time.Time, what string) error {
	err := b.WaitFor(ctx, 20*time.Minute, what, func(context.Context) (bool, error) {
		seen, ready, ok := pc.when(r.Nodes)
		if ok {
			r.Seen, r.Ready = seen.Sub(start), ready.Sub(start)
		}
		return ok, nil
	})
	r.Timeline = pc.timeline(start)
	keepAudit(b, r) // a run that timed out is the one whose log matters most
	if err != nil {
		return err
	}
	return r.createdByAudit(b.AuditLog, start)
}

// createdByAudit sets Created and First from the audit log: when the
// API server answered the first and the n-th successful pod creation.
func (r *rolloutResult) createdByAudit(path string, start time.Time) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var done []time.Time
	for _, line := range bytes.Split(data, []byte("\n")) {
		var e struct {
			Verb      string `json:"verb"`
			ObjectRef *struct {
				Resource, Subresource string
			} `json:"objectRef"`
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
			At time.Time `json:"stageTimestamp"`
		}
		if json.Unmarshal(line, &e) != nil || e.Verb != "create" || e.ObjectRef == nil || e.ObjectRef.Resource != "pods" ||
			e.ObjectRef.Subresource != "" || e.ResponseStatus == nil || e.ResponseStatus.Code != 201 {
			continue
		}
		done = append(done, e.At)
	}
	if len(done) < r.Nodes {
		return fmt.Errorf("the audit log has %d pod creations, want %d", len(done), r.Nodes)
	}
	slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
	r.First, r.Created = done[0].Sub(start), done[r.Nodes-1].Sub(start)
	for _, t := range done {
		r.Timeline = append(r.Timeline, podEvent{t.Sub(start), "api-created"})
	}
	slices.SortFunc(r.Timeline, func(a, b podEvent) int { return cmp.Compare(a.At, b.At) })
	return nil
}

// startBed starts a bed with n Ready kwok nodes named prefix-NNNNN.
func startBed(ctx context.Context, n int) (*bed.Bed, error) {
	b, err := bed.Start(ctx, bed.Options{AuditPolicy: benchAudit})
	if err != nil {
		return nil, err
	}
	if err := addNodes(ctx, b, "node", 0, n, nil); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

// addNodes creates nodes prefix-first..prefix-(first+n-1) in parallel and
// waits until all are Ready and untainted.
func addNodes(ctx context.Context, b *bed.Bed, prefix string, first, n int, lbls map[string]string) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var names []string
	for i := first; i < first+n; i++ {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		names = append(names, name)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.CreateNode(ctx, name, bed.NodeOptions{Labels: lbls}); err != nil && !apierrors.IsAlreadyExists(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return waitNodesReady(ctx, b, names)
}

func waitNodesReady(ctx context.Context, b *bed.Bed, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	return b.WaitFor(ctx, 10*time.Minute, fmt.Sprintf("%d nodes Ready", len(names)), func(ctx context.Context) (bool, error) {
		list, err := b.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			if want[list.Items[i].Name] && nodeReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == len(names), nil
	})
}

func nodeReady(n *v1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == v1.TaintNodeNotReady || t.Key == v1.TaintNodeUnreachable {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// podClock records, from a watch, when each pod of a namespace was first
// seen and first seen Ready, by the bench's clock (finer than the API's
// one-second timestamps).
type podClock struct {
	mu      sync.Mutex
	created map[types.UID]time.Time
	ready   map[types.UID]time.Time
	pods    map[types.UID]*v1.Pod
	node    map[types.UID]string
}

func watchPodClock(ctx context.Context, c kubernetes.Interface, ns string) (*podClock, error) {
	pc := &podClock{created: map[types.UID]time.Time{}, ready: map[types.UID]time.Time{}, pods: map[types.UID]*v1.Pod{}, node: map[types.UID]string{}}
	seen := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok {
			return
		}
		now := time.Now()
		pc.mu.Lock()
		defer pc.mu.Unlock()
		pc.pods[p.UID] = p
		if _, ok := pc.created[p.UID]; !ok {
			pc.created[p.UID] = now
			pc.node[p.UID] = targetNode(p)
		}
		if _, ok := pc.ready[p.UID]; !ok && podReady(p) {
			pc.ready[p.UID] = now
		}
	}
	return pc, watchPods(ctx, c, ns, cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*v1.Pod); ok {
				pc.mu.Lock()
				delete(pc.pods, p.UID)
				pc.mu.Unlock()
			}
		},
	})
}

// watchPods runs an informer on ns's pods with h until ctx ends, and waits
// for its first list. An informer, not a bare watch: it resumes if the API
// server closes the watch under load, so no pod is missed.
func watchPods(ctx context.Context, c kubernetes.Interface, ns string, h cache.ResourceEventHandler) error {
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(h); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}

func targetNode(p *v1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range t.MatchFields {
				if len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// when returns the time at which n pods had been created and n had been
// Ready at least once, or zero times if not yet.
func (pc *podClock) when(n int) (created, ready time.Time, ok bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.created) < n || len(pc.ready) < n {
		return time.Time{}, time.Time{}, false
	}
	return nth(pc.created, n), nth(pc.ready, n), true
}

// timeline lists when each pod was first seen and seen Ready, from start.
func (pc *podClock) timeline(start time.Time) []podEvent {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var out []podEvent
	for _, m := range []struct {
		what string
		at   map[types.UID]time.Time
	}{{"created", pc.created}, {"ready", pc.ready}} {
		for _, t := range m.at {
			out = append(out, podEvent{t.Sub(start), m.what})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func nth(m map[types.UID]time.Time, n int) time.Time {
	ts := make([]time.Time, 0, len(m))
	for _, t := range m {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts[n-1]
}

// flipper flips the Ready condition of random pods of ns at rate per second
// until ctx ends: the busy bed.
func flipper(ctx context.Context, c kubernetes.Interface, pc *podClock, rate int) *atomic.Int64 {
	var done atomic.Int64
	jobs := make(chan *v1.Pod, rate)
	for i := 0; i < 8; i++ {
		go func() {
			for p := range jobs {
				p = p.DeepCopy()
				for j := range p.Status.Conditions {
					if p.Status.Conditions[j].Type == v1.PodReady {
						s := v1.ConditionFalse
						if p.Status.Conditions[j].Status == v1.ConditionFalse {
							s = v1.ConditionTrue
						}
						p.Status.Conditions[j].Status = s
						p.Status.Conditions[j].LastTransitionTime = metav1.Now()
					}
				}
				if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil {
					done.Add(1)
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Only pods that have been Ready flip, so the flips never make a
			// pod Ready before kwok does.
			pc.mu.Lock()
			var pick *v1.Pod
			if len(pc.ready) > 0 {
				k := rand.Intn(len(pc.ready))
				for uid := range pc.ready {
					if k == 0 {
						pick = pc.pods[uid]
						break
					}
					k--
				}
			}
			pc.mu.Unlock()
			if pick != nil {
				select {
				case jobs <- pick:
				default: // the API server is saturated: skip rather than queue
				}
			}
		}
	}()
	return &done
}

func seedDaemonSet(ns, name string) (*appsv1.DaemonSet, error) {
	ds, err := bed.SeedDaemonSet()
	if err != nil {
		return nil, err
	}
	ds.Namespace, ds.Name = ns, name
	zero := int64(0)
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = &zero
	return ds, nil
}

// procCost reads a process's CPU time and peak RSS from /proc.
func procCost(pid int) (cpu, rssMiB float64) {
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpu = (ut + st) / 100 // USER_HZ
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				rssMiB = kb / 1024
			}
		}
	}
	return cpu, rssMiB
}

// requestCounts reads the API server's request counters for the requests
// only a DaemonSet controller makes.
func requestCounts(ctx context.Context, b *bed.Bed) map[string]float64 {
	raw, err := b.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	out := map[string]float64{}
	if err != nil {
		return out
	}
	// Requests only a DaemonSet controller makes on this bed (kwok patches
	// pods/status and deletes pods at the end of their grace period, the
	// scheduler binds through pods/binding and writes events.k8s.io events),
	// but for core/v1 events: kwok's pod-create stage writes one per pod
	// ("Created"), and kube-controller-manager one per new node
	// ("RegisteredNode"). Those come with every controller alike; a
	// controller's own are at most 25 per DaemonSet (client-go's spam
	// filter). The counter has no user agent to tell them apart.
	keep := map[string]bool{"POST pods": true, "PUT daemonsets/status": true, "PATCH pods": true,
		"POST controllerrevisions": true, "PUT controllerrevisions": true, "DELETE controllerrevisions": true,
		"POST events": true, "PATCH events": true}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		lbl := func(k string) string {
			i := strings.Index(line, k+`="`)
			if i < 0 {
				return ""
			}
			rest := line[i+len(k)+2:]
			return rest[:strings.IndexByte(rest, '"')]
		}
		res := lbl("resource")
		if sub := lbl("subresource"); sub != "" {
			res += "/" + sub
		}
		if k := lbl("verb") + " " + res; keep[k] && lbl("group") != "events.k8s.io" {
			if code := lbl("code"); code != "" && !strings.HasPrefix(code, "2") {
				k += " (" + code + ")" // refused or failed: shown apart
			}
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			out[k] += v
		}
	}
	return out
}

func diff(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// deleteNamespace deletes ns and waits until its pods are gone.
func deleteNamespace(ctx context.Context, b *bed.Bed, ns string) error {
	if err := b.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return b.WaitFor(ctx, 10*time.Minute, "namespace "+ns+" gone", func(ctx context.Context) (bool, error) {
		_, err := b.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// runRollout: seconds from creating the seed's DaemonSet to all n pods
// created and all n Ready.
func runRollout(ctx context.Context, ctrl controller, lim limits, n int, busy bool) (rolloutResult, error) {
	res := rolloutResult{Controller: ctrl.Name, Limits: lim.Name, Nodes: n, Busy: busy}
	b, err := startBed(ctx, n)
	if err != nil {
		return res, err
	}
	defer b.Stop()
	defer os.RemoveAll(b.Dir)
	defer keepLog(b, ctrl, fmt.Sprintf("rollout-%s-%s-%d-busy=%t%s", ctrl.Name, strings.Fields(lim.Name)[0], n, busy, runTag))
	p, err := ctrl.start(ctx, b, lim)
	if err != nil {
		return res, err
	}
	defer p.Stop(10 * time.Second)
	if err := b.CreateNamespace(ctx, "my-kube"); err != nil {
		return res, err
	}
	time.Sleep(settle) // let the controller's caches sync; not part of the measure
	before := requestCounts(ctx, b)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pc, err := watchPodClock(rctx, b.Client, "my-kube")
	if err != nil {
		return res, err
	}
	if busy {
		flipper(rctx, b.Client, pc, 200)
	}
	ds, err := seedDaemonSet("my-kube", "fluentd-elasticsearch")
	if err != nil {
		return res, err
	}
	name := fmt.Sprintf("rollout-%d-%s-busy=%v%s", n, strings.Fields(lim.Name)[0], busy, runTag)
	apiserverProfile(b, ctrl.Name+"-"+name)
	if ctrl.Name == "ours" {
		profile(name)
	}
	res.Cost.StartCPUSeconds, _ = procCost(p.Pid())
	start := time.Now()
	if _, err := b.Client.AppsV1().DaemonSets("my-kube").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	err = res.await(ctx, b, pc, start, "the rollout")
	res.Cost.CPUSeconds, res.Cost.PeakRSSMiB = procCost(p.Pid())
	res.Cost.Requests = diff(requestCounts(ctx, b), before)
	if err == nil && restFor > 0 && !busy { // the flipper would still be writing
		res.Cost.RestCPUPerMinute, err = restCPU(ctx, p.Pid())
	}
	return res, err
}

// restFor: how long to measure a controller's CPU at rest (-rest).
var restFor time.Duration

// restCPU is the process's CPU seconds per minute over restFor, from 5 s
// from now: a converged DaemonSet, with only node heartbeats (and the
// controller's own timers) left to wake it. /proc counts CPU in 10 ms
// ticks: a minute or more makes that small.
func restCPU(ctx context.Context, pid int) (float64, error) {
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(5 * time.Second); err != nil {
		return 0, err
	}
	c0, _ := procCost(pid)
	if err := wait(restFor); err != nil {
		return 0, err
	}
	c1, _ := procCost(pid)
	return (c1 - c0) / restFor.Minutes(), nil
}

type newNodesResult struct {
	Controller, Limits                 string
	Base, Added, DaemonSets            int
	CriticalP50, CriticalP99, Critical time.Duration // from node Ready to pod created
	AllP50, AllP99, All                time.Duration
}

func (r newNodesResult) String() string {
	return fmt.Sprintf("%s %s critical p50=%v p99=%v max=%v; all p50=%v p99=%v max=%v", r.Controller, r.Limits,
		r.CriticalP50.Round(time.Millisecond), r.CriticalP99.Round(time.Millisecond), r.Critical.Round(time.Millisecond),
		r.AllP50.Round(time.Millisecond), r.AllP99.Round(time.Millisecond), r.All.Round(time.Millisecond))
}

// runNewNodes: dsCount DaemonSets (the first system-node-critical) on base
// nodes; then added nodes join at once. For each new node and DaemonSet,
// the time from the node turning Ready to its pod being created.
func runNewNodes(ctx context.Context, ctrl controller, lim limits, base, added, dsCount int) (newNodesResult, error) {
	res := newNodesResult{Controller: ctrl.Name, Limits: lim.Name, Base: base, Added: added, DaemonSets: dsCount}
	b, err := startBed(ctx, base)
	if err != nil {
		return res, err
	}
	defer b.Stop()
	defer os.RemoveAll(b.Dir)
	defer keepLog(b, ctrl, fmt.Sprintf("newnodes-%s-%s", ctrl.Name, strings.Fields(lim.Name)[0]))
	p, err := ctrl.start(ctx, b, lim)
	if err != nil {
		return res, err
	}
	defer p.Stop(10 * time.Second)
	if err := b.CreateNamespace(ctx, "agents"); err != nil {
		return res, err
	}
	pc, err := watchPodClock(ctx, b.Client, "agents")
	if err != nil {
		return res, err
	}
	for i := 0; i < dsCount; i++ {
		ds, err := seedDaemonSet("agents", fmt.Sprintf("agent-%02d", i))
		if err != nil {
			return res, err
		}
		lbl := map[string]string{"name": ds.Name}
		ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels = lbl, lbl
		if i == 0 {
			ds.Name = "cni"
			ds.Spec.Selector.MatchLabels["name"], ds.Spec.Template.Labels["name"] = "cni", "cni"
			ds.Spec.Template.Spec.PriorityClassName = "system-node-critical"
		}
		if _, err := b.Client.AppsV1().DaemonSets("agents").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			return res, err
		}
	}
	if err := b.WaitFor(ctx, 30*time.Minute, "the base pods", func(context.Context) (bool, error) {
		_, _, ok := pc.when(base * dsCount)
		return ok, nil
	}); err != nil {
		return res, err
	}
	// Node Ready times, by the bench's clock.
	// A retry watcher: a plain watch that the API server closes under
	// load would silently lose the Ready times.
	nodes, err := b.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, err
	}
	nw, err := watchtools.NewRetryWatcherWithContext(ctx, nodes.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return b.Client.CoreV1().Nodes().Watch(ctx, o)
		},
	})
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	readyAt := map[string]time.Time{}
	go func() {
		for ev := range nw.ResultChan() {
			if n, ok := ev.Object.(*v1.Node); ok && nodeReady(n) {
				mu.Lock()
				if _, seen := readyAt[n.Name]; !seen {
					readyAt[n.Name] = time.Now()
				}
				mu.Unlock()
			}
		}
	}()
	defer nw.Stop()
	if err := addNodes(ctx, b, "new", 0, added, nil); err != nil {
		return res, err
	}
	if err := b.WaitFor(ctx, 30*time.Minute, "the new nodes' pods", func(context.Context) (bool, error) {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		return len(pc.created) >= (base+added)*dsCount, nil
	}); err != nil {
		return res, err
	}
	var critical, all []time.Duration
	pc.mu.Lock()
	mu.Lock()
	newReady := 0
	for node := range readyAt {
		if strings.HasPrefix(node, "new-") {
			newReady++
		}
	}
	if newReady < added {
		mu.Unlock()
		pc.mu.Unlock()
		return res, fmt.Errorf("saw only %d of %d new nodes turn Ready", newReady, added)
	}
	for uid, node := range pc.node {
		r, ok := readyAt[node]
		if !ok || !strings.HasPrefix(node, "new-") {
			continue
		}
		d := max(pc.created[uid].Sub(r), 0)
		all = append(all, d)
		if strings.HasPrefix(pc.pods[uid].Name, "cni-") {
			critical = append(critical, d)
		}
	}
	mu.Unlock()
	pc.mu.Unlock()
	res.CriticalP50, res.CriticalP99, res.Critical = quantiles(critical)
	res.AllP50, res.AllP99, res.All = quantiles(all)
	return res, nil
}

func quantiles(ds []time.Duration) (p50, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(int(q*float64(len(ds))), len(ds)-1)] }
	return at(0.5), at(0.99), ds[len(ds)-1]
}

type updateResult struct {
	Controller, Limits string
	Nodes              int
	Took               time.Duration
	Cost               cost
	// Timeline is every pod event of the update, from the patch on: where
	// two controllers' times differ, it shows in which phase.
	Timeline []podEvent
}

// podEvent is a step of one pod as a watch saw it: "created", "deleting"
// (its deletionTimestamp set), "gone" or "ready".
type podEvent struct {
	At   time.Duration
	What string
}

// timeline records the pod events of ns from now on.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	events []podEvent
	seen   map[types.UID]map[string]bool
}

func watchTimeline(ctx context.Context, c kubernetes.Interface, ns string) (*timeline, error) {
	tl := &timeline{seen: map[types.UID]map[string]bool{}}
	note := func(p *v1.Pod, what string) {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		if tl.seen[p.UID] == nil {
			tl.seen[p.UID] = map[string]bool{}
		}
		if tl.seen[p.UID][what] {
			return
		}
		tl.seen[p.UID][what] = true
		if !tl.start.IsZero() { // before it, the state the update starts from
			tl.events = append(tl.events, podEvent{time.Since(tl.start), what})
		}
	}
	seen := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok {
			return
		}
		note(p, "created")
		if p.DeletionTimestamp != nil {
			note(p, "deleting")
		}
		if podReady(p) {
			note(p, "ready")
		}
	}
	return tl, watchPods(ctx, c, ns, cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				note(p, "gone")
			}
		},
	})
}

// begin starts the clock: pods already seen count as created before it.
func (tl *timeline) begin() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.start = time.Now()
}

func (tl *timeline) list() []podEvent {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]podEvent(nil), tl.events...)
}

func (r updateResult) String() string {
	return fmt.Sprintf("%s %s n=%d took=%v", r.Controller, r.Limits, r.Nodes, r.Took.Round(time.Millisecond))
}

// runUpdate: seconds to roll a new image over n nodes with maxUnavailable 10%.
func runUpdate(ctx context.Context, ctrl controller, lim limits, n int) (updateResult, error) {
	res := updateResult{Controller: ctrl.Name, Limits: lim.Name, Nodes: n}
	b, err := startBed(ctx, n)
	if err != nil {
		return res, err
	}
	defer b.Stop()
	defer os.RemoveAll(b.Dir)
	defer keepLog(b, ctrl, fmt.Sprintf("update-%s-%s-%d", ctrl.Name, strings.Fields(lim.Name)[0], n))
	p, err := ctrl.start(ctx, b, lim)
	if err != nil {
		return res, err
	}
	defer p.Stop(10 * time.Second)
	if err := b.CreateNamespace(ctx, "my-kube"); err != nil {
		return res, err
	}
	ds, err := seedDaemonSet("my-kube", "fluentd-elasticsearch")
	if err != nil {
		return res, err
	}
	ten := intstr.FromString("10%")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &ten}}
	if _, err := b.Client.AppsV1().DaemonSets("my-kube").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	done := func(ctx context.Context) (bool, error) {
		cur, err := b.Client.AppsV1().DaemonSets("my-kube").Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		s := cur.Status
		return s.ObservedGeneration == cur.Generation && int(s.UpdatedNumberScheduled) == n && int(s.NumberAvailable) == n &&
			int(s.DesiredNumberScheduled) == n, nil
	}
	if err := b.WaitFor(ctx, 30*time.Minute, "the first rollout", done); err != nil {
		return res, err
	}
	tctx, stopTimeline := context.WithCancel(ctx)
	defer stopTimeline()
	tl, err := watchTimeline(tctx, b.Client, "my-kube")
	if err != nil {
		return res, err
	}
	before := requestCounts(ctx, b)
	cpu0, _ := procCost(p.Pid())
	start := time.Now()
	tl.begin()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"fluentd-elasticsearch","image":"gcr.io/google-containers/fluentd-elasticsearch:1.21"}]}}}}`)
	if _, err := b.Client.AppsV1().DaemonSets("my-kube").Patch(ctx, ds.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return res, err
	}
	err = b.WaitFor(ctx, 30*time.Minute, "the rolling update", done)
	res.Took = time.Since(start)
	res.Timeline = tl.list()
	cpu1, rss := procCost(p.Pid())
	res.Cost = cost{CPUSeconds: cpu1 - cpu0, PeakRSSMiB: rss, Requests: diff(requestCounts(ctx, b), before)}
	return res, err
}

// pair is a plain client's run and ours' (quiet, raised limits) on the
// same number of nodes, each on a fresh bed.
type pair struct {
	Index       int // from 0; odd pairs ran ours first
	Plain, Ours rolloutResult
	// Beside is the plain client's run with our controller idle in its
	// bed (-idle-ours): its informers watch the plain pods, and it has no
	// DaemonSet to act on.
	Beside rolloutResult
}

// ratio is ours' pod-creation rate as a share of the plain client's: its
// time to all created over ours'.
func (p pair) ratio() float64 { return p.Plain.Created.Seconds() / p.Ours.Created.Seconds() }

// phaseRatio is ratio from each one's first pod created (see phase).
func (p pair) phaseRatio() float64 { return phase(p.Plain) / phase(p.Ours) }

func (p pair) oursFirst() bool { return p.Index%2 == 1 }

// besideRatio is the plain client's rate beside our idle controller as a
// share of its rate alone: what a controller that only watches costs it.
func (p pair) besideRatio() float64 { return p.Plain.Created.Seconds() / p.Beside.Created.Seconds() }

// besideFirst: the run beside our idle controller comes first in pairs
// 1, 3, 5, ..., before the plain client's and ours, and last in the
// others, after them in the reverse order: every two pairs, each of the
// three runs precedes each other one once.
func (p pair) besideFirst() bool { return p.Index%2 == 0 }

// runPair runs the plain client on n nodes and, when withOurs, ours, and
// when withIdle, the plain client again beside our idle controller, in
// runOrder's order.
func runPair(ctx context.Context, n, i int, withOurs, withIdle bool) (pair, error) {
	p := pair{Index: i}
	runs := map[string]func() error{
		"plain": func() (err error) { p.Plain, err = runPlain(ctx, n, false); return err },
		"ours": func() (err error) {
			p.Ours, err = runRollout(ctx, controllerNamed("ours"), raised, n, false)
			return err
		},
		"beside": func() (err error) { p.Beside, err = runPlain(ctx, n, true); return err },
	}
	for _, name := range runOrder(i, withOurs, withIdle) {
		if err := runs[name](); err != nil {
			return p, err
		}
	}
	return p, nil
}

// runOrder is the order of pair i's runs ("plain", "ours", "beside").
// Odd pairs run ours first, so that neither always follows the other's
// bed (its teardown, the machine's caches) and the order's effect, if
// any, falls on both alike over the pairs; the run beside our idle
// controller goes first or last (see besideFirst).
func runOrder(i int, withOurs, withIdle bool) []string {
	p := pair{Index: i}
	order := []string{"plain"}
	if withOurs {
		order = append(order, "ours")
		if p.oursFirst() {
			slices.Reverse(order)
		}
	}
	if withIdle {
		if p.besideFirst() {
			order = slices.Insert(order, 0, "beside")
		} else {
			order = append(order, "beside")
		}
	}
	return order
}

// settle is how long a rollout waits after creating its namespace before
// its clock starts: for ours', the controller's caches to sync; the plain
// client's waits as long (see runPlain).
const settle = 2 * time.Second

// runTag ends the names of the files a run keeps (logs, audit logs,
// profiles) when it is one of several pairs: "-pair2" and so on.
var runTag string

// runPlain is the baseline: a plain client (QPS 1000, burst 2000) creating
// the same n pods as a DaemonSet controller would, plainWorkers (64) at a
// time: the template with the daemon tolerations and a required node
// affinity for one node each, so kube-scheduler binds them, as it binds
// ours (until commit 2a0cac1 the baseline set spec.nodeName instead,
// skipping the scheduler's share of the two cores). It shows the creation
// rate the API server itself allows on this machine. With idle, our
// controller runs in the bed as in ours' run, with nothing to do but
// watch: the rate the API server allows beside a controller.
func runPlain(ctx context.Context, n int, idle bool) (rolloutResult, error) {
	res := rolloutResult{Controller: "plain client", Limits: raised.Name, Nodes: n}
	if idle {
		res.Controller = besideIdle
	}
	tag := strings.ReplaceAll(res.Controller, " ", "-") // in the names of the files the run keeps
	b, err := startBed(ctx, n)
	if err != nil {
		return res, err
	}
	defer b.Stop()
	defer os.RemoveAll(b.Dir)
	var ours *bed.Proc
	if idle {
		defer keepLog(b, controllerNamed("ours"), fmt.Sprintf("rollout-%s-raised-%d-busy=false%s", tag, n, runTag))
		if ours, err = startOurs(ctx, b, raised); err != nil {
			return res, err
		}
		defer ours.Stop(10 * time.Second)
	}
	if err := b.CreateNamespace(ctx, "my-kube"); err != nil {
		return res, err
	}
	// As long as ours' run waits for its caches, so that both clocks start
	// on a bed about as old (ours' is older by its controller's start):
	// whatever a new bed still does in its first seconds falls outside
	// both, not inside the plain client's alone.
	time.Sleep(settle)
	cfg := rest.CopyConfig(b.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pc, err := watchPodClock(rctx, b.Client, "my-kube")
	if err != nil {
		return res, err
	}
	ds, err := seedDaemonSet("my-kube", "fluentd-elasticsearch")
	if err != nil {
		return res, err
	}
	name := fmt.Sprintf("%s-rollout-%d-raised-busy=false%s", tag, n, runTag)
	apiserverProfile(b, name)
	if idle {
		profile(name)
		res.Cost.StartCPUSeconds, _ = procCost(ours.Pid())
	}
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < plainWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-", Namespace: "my-kube", Labels: ds.Spec.Template.Labels},
					Spec: *ds.Spec.Template.Spec.DeepCopy()}
				placement.AddDaemonTolerations(&pod.Spec)
				pod.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
						MatchFields: []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn,
							Values: []string{fmt.Sprintf("node-%05d", i)}}},
					}}},
				}}
				_, _ = client.CoreV1().Pods("my-kube").Create(ctx, pod, metav1.CreateOptions{})
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	err = res.await(ctx, b, pc, start, "the plain pods")
	if idle { // our idle controller's cost, in the same columns as ours' run
		if ours.Exited() {
			// Else the run would pass for one beside a controller.
			return res, fmt.Errorf("our idle controller exited (code %d) during the plain client's run", ours.ExitCode())
		}
		res.Cost.CPUSeconds, res.Cost.PeakRSSMiB = procCost(ours.Pid())
	}
	return res, err
}

// besideIdle names the plain client's run beside our idle controller.
const besideIdle = "plain client beside idle ours"

// plainWorkers is how many creations the plain client keeps in flight
// (-plain-workers).
var plainWorkers = 64

// keepAudit copies a rollout's audit log (each pod creation, with when the
// API server received it and answered) to logDir, where one can tell a
// client's wait from the API server's.
func keepAudit(b *bed.Bed, r *rolloutResult) {
	name := fmt.Sprintf("audit-rollout-%s-%s-%d-busy=%t%s.log", strings.ReplaceAll(r.Controller, " ", "-"), strings.Fields(r.Limits)[0], r.Nodes, r.Busy, runTag)
	keepFile(b.AuditLog, name, "the audit log")
}

// logDir, if set, keeps each run's controller log (-logs).
var logDir string

// keepLog copies the controller's log out of the bed before the bed's
// folder goes, as name.log under logDir.
func keepLog(b *bed.Bed, ctrl controller, name string) {
	file := "daemonset-controller.log"
	if ctrl.Name != "ours" {
		file = "kube-controller-manager.log"
	}
	keepFile(filepath.Join(b.Dir, file), name+".log", "the "+ctrl.Name+" log")
}

// keepFile copies src to logDir/name, if -logs is set, before the bed's
// folder goes; what names the file in a failure's message.
func keepFile(src, name, what string) {
	if logDir == "" {
		return
	}
	data, err := os.ReadFile(src)
	if err == nil {
		err = os.MkdirAll(logDir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(logDir, name), data, 0o644)
	}
	if err != nil {
		log.Printf("keeping %s: %v", what, err)
	}
}
