package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/expectations"
	"github.com/daemonset-controller/daemonset-controller/pkg/history"
	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
	"github.com/daemonset-controller/daemonset-controller/pkg/rollout"
)

// Event reasons, as the built-in controller uses them.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
	reasonFailedDaemonPod  = "FailedDaemonPod"
	reasonSucceededPod     = "SucceededDaemonPod"
	reasonSelectingAll     = "SelectingAll"
	reasonInvalidSelector  = "InvalidSelector"
	reasonInvalidStrategy  = "InvalidUpdateStrategy"
)

// sync brings one DaemonSet's pods and status in line with its spec:
// observe (caches) -> plan (pure) -> act (API) -> write status.
func (c *Controller) sync(ctx context.Context, k string) error {
	start := c.opts.Now()
	logger := klog.FromContext(ctx)
	defer func() { logger.V(4).Info("Synced", "duration", c.opts.Now().Sub(start)) }()

	namespace, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil // a key we never made; retrying cannot help
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(k)
		c.forgetCounts(namespace, name)
		c.statusWritten.Delete(k)
		c.resume.Delete(k)
		c.yielded.Delete(k)
		c.statusHeld.Delete(k)
		c.patches.Delete(k)
		c.failedBehind.Delete(k)
		if c.shadow != nil {
			c.shadow.forget(k)
		}
		return nil
	}
	if err != nil {
		return err
	}
	// A DaemonSet being deleted is left to the garbage collector, which
	// removes its pods; its status can no longer be computed reliably.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(ds, v1.EventTypeWarning, reasonInvalidSelector, "Invalid selector: %v", err)
		return nil
	}
	if selector.Empty() {
		c.recorder.Event(ds, v1.EventTypeWarning, reasonSelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}

	r := c.beginRenewal(k)
	defer c.endRenewal(k, r)
	// Expectations are read before the caches: the informer updates its
	// store before it calls our handlers, so every write an expectation met
	// by now covers is in what observe reads. Read after, an event arriving
	// during observe could meet it while the plan is built from a cache that
	// lacks that very pod, and a second pod would be created on its node
	// (or a pod being deleted deleted again).
	// The same holds for the nodes of creations not yet observed.
	satisfied := c.expectations.Satisfied(k)
	creatingOn, onlyCreating := c.expectations.CreatingOn(k)
	obs, err := c.observe(ctx, ds, selector)
	if err != nil {
		return err
	}
	in := obs.input
	if c.shadow != nil {
		c.shadowSync(ctx, ds, in)
		return nil
	}
	if !satisfied && onlyCreating {
		return c.createMore(ctx, ds, in, creatingOn, r)
	}
	if !satisfied {
		// The cache has not caught up with our own writes: acting now could
		// create a second pod. Report what is known, and wait; look again
		// when the expectations would expire, in case an event was lost.
		c.metrics.Throttled.WithLabelValues("expectations").Inc()
		c.queue.AddAfter(k, expectations.DefaultTTL+time.Second)
		if err := c.writeStatus(ctx, ds, in, false); err != nil {
			return err
		}
		return errWaiting
	}
	c.yielded.Delete(k)
	acted, actErr := c.act(ctx, ds, plan.Compute(in), in.Hash)
	if c.gaveWayAfter(ds, acted, r) && actErr == nil {
		// act gave the worker up to a more urgent DaemonSet, or a node
		// needs this one's pod: the status and the rollout wait for the
		// next sync, already queued, rather than spend requests now.
		return nil
	}
	// A rollout steps only once the node set is settled: the main plan
	// had nothing to do and nothing is in flight.
	rolling := ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType
	if actErr == nil && acted && rolling {
		// Often the cache shows our writes by the time they return (watch
		// events beat the responses); the rollout then steps in this sync,
		// as upstream's does, rather than a token later in a sync of its own.
		if fresh, ok := c.settledNow(in, ds, selector); ok {
			in, acted = fresh, false
		}
	}
	if actErr == nil && !acted && rolling {
		actErr = c.rollOut(ctx, ds, in)
	}
	historyErr := c.pruneHistory(ctx, ds, obs)
	statusErr := c.writeStatusUnlessRenewed(ctx, ds, in, true, r)
	return errors.Join(actErr, historyErr, statusErr)
}

// settledNow reads the DaemonSet's pods from the cache again after act, if
// it already shows all of act's writes, and reports whether the main plan
// has nothing left to do. The read writes nothing: pods it would have to
// adopt or release make it report false, and the next sync handles them.
func (c *Controller) settledNow(in plan.Input, ds *appsv1.DaemonSet, selector labels.Selector) (plan.Input, bool) {
	if !c.expectations.Satisfied(key(ds)) { // read before the cache, as in sync
		return in, false
	}
	objs, err := c.pods.ByIndex(byOwner, string(ds.UID))
	if err != nil {
		return in, false
	}
	pods := make([]*v1.Pod, 0, len(objs))
	for _, obj := range objs {
		if pod := obj.(*v1.Pod); selector.Matches(labels.Set(pod.Labels)) {
			pods = append(pods, pod)
		}
	}
	in.PodsByNode, in.Now = byTargetNode(pods), c.opts.Now()
	p := plan.Compute(in)
	return in, len(p.CreateOn)+len(p.Delete)+len(p.Failed)+len(p.Succeeded)+len(p.Lost) == 0
}

// gaveWayAfter reports, after act, whether the sync of ds is to leave its
// status and rollout to the next sync, already queued: act yielded its
// worker to a more urgent DaemonSet, or it acted and a node has needed
// ds's pod since the sync began (see renewal), which a status write would
// keep waiting (a round trip, 1 to 2 s on a busy API server).
func (c *Controller) gaveWayAfter(ds *appsv1.DaemonSet, acted bool, r *renewal) bool {
	_, yielded := c.yielded.LoadAndDelete(key(ds))
	return yielded || (acted && r.done() && c.holdStatus(ds))
}

// maxStatusHold is how long renewals may hold back a DaemonSet's status:
// long enough for a burst of joining nodes to get their pods first, short
// enough that an autoscaler adding nodes for minutes cannot keep the
// desired count from the status.
const maxStatusHold = 30 * time.Second

// holdStatus reports whether a renewed sync of ds may leave its status to
// the next (see mayHold), and if so begins the hold.
func (c *Controller) holdStatus(ds *appsv1.DaemonSet) bool {
	since, ok := c.mayHold(ds)
	if ok {
		c.statusHeld.LoadOrStore(key(ds), since)
	}
	return ok
}

// mayHold reports whether ds's status may be held back: the spec's
// generation is observed (rollout status waits for that), and renewals
// have held it back for less than maxStatusHold. since is when they began
// to, or now.
func (c *Controller) mayHold(ds *appsv1.DaemonSet) (since time.Time, ok bool) {
	now := c.opts.Now()
	since = now
	if v, held := c.statusHeld.Load(key(ds)); held {
		since = v.(time.Time)
	}
	return since, ds.Status.ObservedGeneration >= ds.Generation && now.Sub(since) < maxStatusHold
}

// writeStatusUnlessRenewed is writeStatus, given up if a node needs ds's
// pod before the write is answered (see renewal) and the status may still
// be held back (see mayHold). On a busy API server the write took 1 to
// 2 s, in which the nodes that joined waited for the CNI's pods; the next
// sync, already queued, writes the status instead.
func (c *Controller) writeStatusUnlessRenewed(ctx context.Context, ds *appsv1.DaemonSet, in plan.Input, observed bool, r *renewal) error {
	since, mayHold := c.mayHold(ds) // before statusDue ends the hold
	counts, due := c.statusDue(ds, in, observed)
	switch {
	case !due:
		return nil
	case !mayHold:
		return c.putStatus(ctx, ds, counts, observed)
	case !r.done():
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(r.ctx, cancel)()
		err := c.putStatus(wctx, ds, counts, observed)
		if err == nil || ctx.Err() != nil || !r.done() || !errors.Is(err, context.Canceled) {
			return err
		}
	}
	c.statusHeld.LoadOrStore(key(ds), since) // statusDue ended the hold; it goes on
	klog.FromContext(ctx).V(2).Info("Leaving the status to the next sync", "reason", "a node that needs a pod")
	return nil
}

// createMore is a sync while the cache has yet to show some of the
// DaemonSet's own creations and nothing else is outstanding. Those
// creations are all on nodes the expectations name, so pods are created
// on the other nodes that have none: a rollout cut into batches by
// --burst-replicas, or nodes joining one after another, need not wait for
// the watch to catch up between batches. Nothing is deleted, and a rolling
// update does not step, until it has.
func (c *Controller) createMore(ctx context.Context, ds *appsv1.DaemonSet, in plan.Input, creatingOn map[string]bool, r *renewal) error {
	k := key(ds)
	var nodes []string
	for _, n := range plan.Compute(in).CreateOn {
		// Only nodes with no pod at all: one with a Failed pod waits for
		// the full sync, which deletes that pod under its backoff.
		if !creatingOn[n] && len(in.PodsByNode[n]) == 0 {
			nodes = append(nodes, n)
		}
	}
	var actErr error
	gaveWay := false
	if len(nodes) > 0 {
		c.yielded.Delete(k)
		var acted bool
		acted, actErr = c.act(ctx, ds, plan.Plan{CreateOn: nodes}, in.Hash)
		gaveWay = c.gaveWayAfter(ds, acted, r)
	} else {
		c.metrics.Throttled.WithLabelValues("expectations").Inc()
	}
	// Look again when the expectations would expire, in case an event was lost.
	c.queue.AddAfter(k, expectations.DefaultTTL+time.Second)
	if gaveWay && actErr == nil {
		return errWaiting // the status waits for the next sync, as in sync
	}
	statusErr := c.writeStatusUnlessRenewed(ctx, ds, in, false, r)
	if err := errors.Join(actErr, statusErr); err != nil {
		return err
	}
	return errWaiting
}

// observation is what a sync reads from the caches.
type observation struct {
	input plan.Input
	// pods are all the DaemonSet's pods, terminal and terminating included.
	pods []*v1.Pod
	// oldRevisions are the revisions of templates other than the current.
	oldRevisions []*appsv1.ControllerRevision
}

// observe reads everything the plan needs from the caches, claiming pods
// and revisions on the way.
func (c *Controller) observe(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (observation, error) {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return observation{}, err
	}
	cl := newClaimer(c.client, ds, selector)
	cl.dryRun = c.shadow != nil
	pods, err := c.claimPods(ctx, ds, cl)
	if err != nil {
		return observation{}, err
	}
	cur, old, err := c.currentRevision(ctx, ds, cl, pods)
	if err != nil {
		return observation{}, fmt.Errorf("constructing revisions: %w", err)
	}
	return observation{
		input: plan.Input{
			Nodes:           nodes,
			PodsByNode:      byTargetNode(pods),
			Placement:       placement.New(ds),
			Hash:            cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey],
			Surge:           allowsSurge(ds),
			MinReadySeconds: ds.Spec.MinReadySeconds,
			Now:             c.opts.Now(),
		},
		pods:         pods,
		oldRevisions: old,
	}, nil
}

// rollOut takes the next step of a RollingUpdate.
func (c *Controller) rollOut(ctx context.Context, ds *appsv1.DaemonSet, in plan.Input) error {
	step, err := rollout.RollingUpdate(in, ds.Spec.UpdateStrategy.RollingUpdate, templateGeneration(ds))
	if err != nil {
		// The API server validates the strategy; a value it let through
		// that we cannot read is reported, not retried.
		if ds.Status.ObservedGeneration != ds.Generation { // once per spec change
			c.recorder.Eventf(ds, v1.EventTypeWarning, reasonInvalidStrategy, "Cannot roll out: %v", err)
		}
		return nil
	}
	_, err = c.act(ctx, ds, plan.Plan{Delete: step.Delete, CreateOn: step.CreateOn}, in.Hash)
	return err
}

// pruneHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod still runs.
func (c *Controller) pruneHistory(ctx context.Context, ds *appsv1.DaemonSet, obs observation) error {
	limit := 10 // the API default, for objects that predate it
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{}
	for _, pod := range obs.pods {
		if h := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	for _, rev := range history.ToPrune(obs.oldRevisions, limit, live) {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, rev.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rev.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("pruning revision %s: %w", rev.Name, err)
		}
	}
	return nil
}

// byTargetNode groups pods by the node they are for. Terminal pods already
// being deleted are left out: nothing more can be done with them.
func byTargetNode(pods []*v1.Pod) map[string][]*v1.Pod {
	out := make(map[string][]*v1.Pod, len(pods))
	for i, pod := range pods {
		terminal := pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded
		if terminal && pod.DeletionTimestamp != nil {
			continue
		}
		n := plan.TargetNode(pod)
		if n == "" {
			continue
		}
		if have := out[n]; len(have) > 0 {
			out[n] = append(have, pod)
		} else {
			// Nearly every node has one pod: a view of pods, with no room
			// to grow, costs no allocation (a second pod copies it).
			out[n] = pods[i : i+1 : i+1]
		}
	}
	return out
}

// allowsSurge reports whether a rolling update may put a second pod on a node.
// It asks the rollout's own scaling, as upstream does (a surge that scales
// to a pod on one node allows surging), rather than reading the value.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return false
	}
	b, err := rollout.Limits(ds.Spec.UpdateStrategy.RollingUpdate, 1)
	return err == nil && b.MaxSurge > 0
}

// templateGeneration returns the legacy template generation the API server
// records on the DaemonSet, or nil.
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return nil
	}
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &g
}

// writeStatus writes the status the caches show, only when it changed.
// observedGeneration advances only when this sync acted on the spec.
func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, in plan.Input, observed bool) error {
	if counts, due := c.statusDue(ds, in, observed); due {
		return c.putStatus(ctx, ds, counts, observed)
	}
	return nil
}

// statusDue returns the status counts the caches show, and whether they
// are to be written now: they changed, and are not held back by the
// status interval (which queues the write for its end).
func (c *Controller) statusDue(ds *appsv1.DaemonSet, in plan.Input, observed bool) (plan.Counts, bool) {
	c.statusHeld.Delete(key(ds)) // no longer held by renewals
	counts := plan.Status(in, templateGeneration(ds))
	c.recordCounts(ds, counts)
	if ds.Spec.MinReadySeconds > 0 && counts.NumberReady != counts.NumberAvailable {
		c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if statusHolds(ds, counts, observed) || c.alreadyWritten(ds, counts, observed) {
		return counts, false
	}
	if wait, reason := c.statusWait(ds, counts, observed); wait > 0 {
		c.metrics.StatusDeferred.WithLabelValues(reason).Inc()
		c.enqueueAfter(ds, wait)
		return counts, false
	}
	return counts, true
}

// putStatus writes counts (and, when observed, the generation) to ds's
// status, retrying a conflict from a fresh read.
func (c *Controller) putStatus(ctx context.Context, ds *appsv1.DaemonSet, counts plan.Counts, observed bool) error {
	toUpdate := c.statusBase(ds)
	for attempt := 0; ; attempt++ {
		setCounts(&toUpdate.Status, counts)
		if observed {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		written, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil {
			c.statusWritten.Store(key(ds), writtenStatus{uid: ds.UID, resourceVersion: written.ResourceVersion,
				status: written.Status, at: c.opts.Now(), object: written})
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 2 {
			return fmt.Errorf("writing status: %w", err)
		}
		fresh, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			return fmt.Errorf("writing status: %w", getErr)
		}
		if fresh.UID != ds.UID || statusHolds(fresh, counts, observed && fresh.Generation == ds.Generation) {
			// Replaced by a new DaemonSet of the same name, or the status
			// is already there (our earlier write, not yet in the cache).
			return nil
		}
		toUpdate = fresh
	}
}

// statusHolds reports whether ds's status already says counts (and, when
// observed, that its generation was observed).
func statusHolds(ds *appsv1.DaemonSet, counts plan.Counts, observed bool) bool {
	return countsOf(ds.Status) == counts && (!observed || ds.Status.ObservedGeneration >= ds.Generation)
}

// writtenStatus is the status this controller last wrote for a DaemonSet,
// and the resourceVersion the write returned.
type writtenStatus struct {
	uid             types.UID
	resourceVersion string
	status          appsv1.DaemonSetStatus
	at              time.Time
	object          *appsv1.DaemonSet // as the write returned it; not to be changed
}

// statusBase is the object a status write starts from: the cached
// DaemonSet, unless the cache is older than this controller's last write
// for it. A write from the cached resourceVersion would then only
// conflict, and cost a read and a second write: three requests instead of
// one, at 20 a second. The object the last write returned is used instead.
func (c *Controller) statusBase(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	if w, ok := c.lastWrite(ds); ok && w.object != nil && olderThan(ds.ResourceVersion, w.resourceVersion) {
		return w.object.DeepCopy()
	}
	return ds.DeepCopy()
}

// lastWrite returns the status this controller last wrote for ds itself
// (not for an earlier DaemonSet of the same name).
func (c *Controller) lastWrite(ds *appsv1.DaemonSet) (writtenStatus, bool) {
	v, ok := c.statusWritten.Load(key(ds))
	if !ok {
		return writtenStatus{}, false
	}
	w := v.(writtenStatus)
	return w, w.uid == ds.UID
}

// statusWait returns how long to hold back a status write that only
// reports progress (pods created, ready, updated, available) because the
// last write for the DaemonSet was less than StatusInterval ago, or less
// than busyStatusInterval while the client is at its rate limit. During a
// rollout every pod event would otherwise cost a write; the sync queued for
// the end of the wait writes the counts of that moment. A new desired count
// or an observed generation is written at once: rollout status waits on it.
func (c *Controller) statusWait(ds *appsv1.DaemonSet, counts plan.Counts, observed bool) (time.Duration, string) {
	w, ok := c.lastWrite(ds)
	if !ok || counts.DesiredNumberScheduled != w.status.DesiredNumberScheduled ||
		(observed && ds.Generation > w.status.ObservedGeneration) {
		return 0, ""
	}
	return c.holdLeft(w)
}

// busyStatusInterval is the least time between two status writes of a
// DaemonSet that only report progress while the client is at its rate
// limit: each write then takes a token that a pod creation or deletion
// would have had. A rolling update over 1,000 nodes at QPS 20 made 79 of
// them, 4 s of the client's tokens in the update's 110 s. A write put off
// keeps its time (the sync queued for it) even if tokens come free before
// then; a sync that comes once they have writes as usual.
const busyStatusInterval = 5 * time.Second

// statusHold returns how much of the status interval since the last
// status write for ds is left.
func (c *Controller) statusHold(ds *appsv1.DaemonSet) time.Duration {
	w, ok := c.lastWrite(ds)
	if !ok {
		return 0
	}
	wait, _ := c.holdLeft(w)
	return wait
}

// holdLeft returns how much of the status interval since write w is left,
// and which interval it is: StatusInterval ("interval"), or
// busyStatusInterval ("busy") where that is longer and the client is at
// its rate limit, so that the metric tells a user which of the two holds
// their status back.
func (c *Controller) holdLeft(w writtenStatus) (time.Duration, string) {
	interval, reason := c.opts.StatusInterval, metrics.StatusInterval
	if interval <= 0 {
		return 0, ""
	}
	if busyStatusInterval > interval && c.opts.ClientBusy != nil && c.opts.ClientBusy() {
		interval, reason = busyStatusInterval, metrics.StatusBusy
	}
	// Capped, so that a clock that jumps back cannot hold the status long.
	return min(w.at.Add(interval).Sub(c.opts.Now()), interval), reason
}

// alreadyWritten reports whether the status to write is the one this
// controller wrote last, while the cache still shows the DaemonSet from
// before that write. Writing it again would change nothing, and, from a
// stale object, conflict. Once the cache has our write (or anyone's later
// one) the ordinary comparison decides.
func (c *Controller) alreadyWritten(ds *appsv1.DaemonSet, counts plan.Counts, observed bool) bool {
	w, ok := c.lastWrite(ds)
	if !ok || w.resourceVersion == ds.ResourceVersion {
		return false
	}
	last := ds.DeepCopy()
	last.Status = w.status
	return statusHolds(last, counts, observed) && w.status.ObservedGeneration <= ds.Generation &&
		olderThan(ds.ResourceVersion, w.resourceVersion)
}

// olderThan reports whether resourceVersion a is older than b. The API
// server's resourceVersions are etcd revisions; anything else (not a
// number) is treated as not older, which only costs a write.
func olderThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

func setCounts(s *appsv1.DaemonSetStatus, c plan.Counts) {
	s.DesiredNumberScheduled = c.DesiredNumberScheduled
	s.CurrentNumberScheduled = c.CurrentNumberScheduled
	s.NumberMisscheduled = c.NumberMisscheduled
	s.NumberReady = c.NumberReady
	s.UpdatedNumberScheduled = c.UpdatedNumberScheduled
	s.NumberAvailable = c.NumberAvailable
	s.NumberUnavailable = c.NumberUnavailable
}

func countsOf(s appsv1.DaemonSetStatus) plan.Counts {
	return plan.Counts{
		DesiredNumberScheduled: s.DesiredNumberScheduled,
		CurrentNumberScheduled: s.CurrentNumberScheduled,
		NumberMisscheduled:     s.NumberMisscheduled,
		NumberReady:            s.NumberReady,
		UpdatedNumberScheduled: s.UpdatedNumberScheduled,
		NumberAvailable:        s.NumberAvailable,
		NumberUnavailable:      s.NumberUnavailable,
	}
}

var countStates = []string{"desired", "current", "misscheduled", "ready", "updated", "available", "unavailable"}

// recordCounts exports the status counts per DaemonSet, for alerts such as
// a stuck rollout.
func (c *Controller) recordCounts(ds *appsv1.DaemonSet, n plan.Counts) {
	values := []int32{n.DesiredNumberScheduled, n.CurrentNumberScheduled, n.NumberMisscheduled, n.NumberReady,
		n.UpdatedNumberScheduled, n.NumberAvailable, n.NumberUnavailable}
	for i, state := range countStates {
		c.metrics.DaemonSetPods.WithLabelValues(ds.Namespace, ds.Name, state).Set(float64(values[i]))
	}
}

func (c *Controller) forgetCounts(namespace, name string) {
	for _, state := range countStates {
		c.metrics.DaemonSetPods.DeleteLabelValues(namespace, name, state)
	}
}
