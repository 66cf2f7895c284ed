package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/expectations"
	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/placement"
	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
)

// act carries out a plan: it turns failed, succeeded and lost pods into
// deletions, records expectations, then creates and deletes at most
// BurstReplicas pods of each kind. It reports whether it wrote anything.
func (c *Controller) act(ctx context.Context, ds *appsv1.DaemonSet, p plan.Plan, hash string) (bool, error) {
	// The burst cap applies before any event or backoff is recorded, so a
	// pod left for the next sync is reported once, when it is deleted.
	room := c.opts.BurstReplicas
	deletes := capped(p.Delete, &room)
	deletes = append(deletes, c.failedToDelete(ds, p.Failed, &room)...)
	for _, pod := range capped(p.Succeeded, &room) {
		c.recorder.Eventf(ds, v1.EventTypeNormal, reasonSucceededPod,
			"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, pod.Spec.NodeName)
		deletes = append(deletes, pod)
	}
	// Pods on a node that is gone have no kubelet to end them gracefully:
	// they are deleted at once, as the pod garbage collector would.
	lost, lostErr := c.confirmLost(ctx, capped(p.Lost, &room))

	creates := p.CreateOn
	// After a refused creation nothing more is created for the DaemonSet
	// until its backoff has passed, however many events bring it back.
	putOff := false
	if len(creates) > 0 {
		if wait := c.createBackoff.wait(string(ds.UID), c.opts.Now()); wait > 0 {
			c.metrics.Throttled.WithLabelValues("backoff").Add(float64(len(creates)))
			c.enqueueAfter(ds, wait)
			creates, putOff = nil, true
		}
	}
	cut := len(creates) > c.opts.BurstReplicas
	if cut {
		c.metrics.Throttled.WithLabelValues("burst").Add(float64(len(creates) - c.opts.BurstReplicas))
		creates = creates[:c.opts.BurstReplicas]
	}
	if len(creates) == 0 && len(deletes) == 0 && len(lost) == 0 {
		// Creations put off leave the node set unsettled, as if made.
		return putOff || lostErr != nil, lostErr
	}
	var uids []types.UID
	for _, pod := range append(append([]*v1.Pod(nil), deletes...), lost...) {
		uids = append(uids, pod.UID)
	}
	klog.FromContext(ctx).V(2).Info("Acting on plan", "create", len(creates), "delete", podNames(deletes),
		"deleteLost", podNames(lost), "wantCreate", len(p.CreateOn))
	// Expectations go first: the informer may report our pods before the
	// API calls return. Each creation is expected as it starts (createPods).
	c.expectations.Expect(key(ds), nil, uids)
	createErr := c.createPods(ctx, ds, creates, hash, cut)
	deleteErr := c.deletePods(ctx, ds, deletes, nil)
	var zero int64
	lostDeleteErr := c.deletePods(ctx, ds, lost, &zero)
	return true, errors.Join(lostErr, createErr, deleteErr, lostDeleteErr)
}

// failedToDelete returns the Failed pods whose node is out of backoff, and
// requeues the DaemonSet for those still in it. Backoff per node stops a
// pod that the kubelet keeps rejecting from being recreated in a hot loop.
func (c *Controller) failedToDelete(ds *appsv1.DaemonSet, failed []*v1.Pod, room *int) []*v1.Pod {
	var out []*v1.Pod
	now := c.opts.Now()
	for _, pod := range failed {
		if *room == 0 {
			break
		}
		node := plan.TargetNode(pod)
		id := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node)
		if wait := c.failedBackoff.wait(id, now); wait > 0 {
			c.metrics.FailedPodBackoff.Inc()
			c.enqueueAfter(ds, wait)
			continue
		}
		c.failedBackoff.next(id, now)
		*room--
		c.recorder.Eventf(ds, v1.EventTypeWarning, reasonFailedDaemonPod,
			"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node)
		out = append(out, pod)
	}
	return out
}

// capped returns at most *room of pods and takes them from *room.
func capped(pods []*v1.Pod, room *int) []*v1.Pod {
	n := min(len(pods), *room)
	*room -= n
	return pods[:n]
}

// confirmLost returns the pods whose node the API server confirms is gone.
// The node cache alone is not trusted for this: it may lag a new node.
func (c *Controller) confirmLost(ctx context.Context, lost []*v1.Pod) ([]*v1.Pod, error) {
	gone := map[string]bool{}
	var out []*v1.Pod
	for _, pod := range lost {
		name := pod.Spec.NodeName
		if _, seen := gone[name]; !seen {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return out, fmt.Errorf("checking node %s: %w", name, err)
			}
			gone[name] = apierrors.IsNotFound(err)
		}
		if gone[name] {
			out = append(out, pod)
		}
	}
	return out, nil
}

// createPods creates a pod on each node with a slow start: at first one
// creation is in flight. Its success shows that the template, the
// namespace and admission accept the DaemonSet's pods, so the window opens
// to provenWindow; from then on each success lets one more start, so the
// number in flight doubles every round trip, as in upstream's batches of
// 1, 2, 4, ..., but without waiting for the slowest call of a batch before
// the next begins. When creations fail (quota, admission, a bad template)
// the first failure stops the rest: no more calls fail than had succeeded
// before, plus provenWindow, instead of hundreds of failing calls and
// events. A failure also puts the DaemonSet's next creations off (1 s,
// doubling while nothing gets through, to 5 min); a success ends the
// backoff. A creating sync soon after, of the same template, resumes the
// slow start where this one ended (with the window its successes opened).
//
// When more creations wait for the next sync (cut by --burst-replicas), it
// need not wait for this one's slowest calls: once all of this sync's
// creations have started, those still in flight finish in the background
// (the expectations name their nodes, so the next sync creates elsewhere).
// A sync yielding its worker to a more urgent DaemonSet, or renewed by a
// node that needs this one's pod (see renewal), leaves its creations in
// flight the same way. A cut sync that has had a creation succeed also
// leaves its status write to the next sync, queued at once (it renews
// itself: see renewal). Each boundary between batches cost 80 to 200 ms
// of a 1,000-node rollout's 3.4 s at raised limits while it waited for its
// creations, and then 100 to 350 ms of 4.4 s while its status write let
// the API server drain.
func (c *Controller) createPods(ctx context.Context, ds *appsv1.DaemonSet, nodes []string, hash string, more bool) error {
	if len(nodes) == 0 {
		return nil
	}
	template := podTemplate(ds, hash)
	k := key(ds)
	priority := prioritylimit.Priority(ctx)
	cs := &creations{results: make(chan error, len(nodes)), release: c.gate.Hold(priority), began: c.opts.Now()}
	first := c.takeResume(ds, hash)
	window := first
	started := 0
	renewed := c.renewed(k)
	// Why no more creations start: "slow_start", "yield", "renewed" or "canceled".
	stop := ""
	// leave: the rest of this sync's creations are for a later sync (more
	// urgent work, new work of its own, or the burst cut), so it need not
	// wait for those in flight.
	leave := func() bool {
		return stop == "yield" || stop == "renewed" || (more && stop == "" && started == len(nodes))
	}
	for cs.inFlight > 0 || started < len(nodes) {
		if stop == "" && started < len(nodes) && cs.inFlight < window {
			if stop = c.nextStop(ctx, priority, started >= min(first, resumeMaxBatch)); stop == "" && c.gone(ds) {
				stop = "canceled"
			}
			if stop == "" {
				c.startCreation(ctx, ds, template, nodes[started], cs)
				started++
			}
			continue
		}
		if cs.inFlight == 0 || leave() {
			break
		}
		// Only a sync still creating gives way, to a renewal or to a more
		// urgent DaemonSet waiting for a worker, as soon as one is queued:
		// one that a failure or a cancellation stopped reports it (the
		// backoff, no resume) once its creations have answered.
		var ch, raised <-chan struct{}
		if stop == "" {
			// Waiting with none stopped, all of the sync's creations or its
			// first window have started: it has made progress, and may
			// yield. Raised is taken first, so no push is missed between.
			ch, raised = renewed, c.waiting.Raised()
			if len(cs.results) == 0 && c.waiting.Waiting(priority) { // answers first, as before
				stop = "yield"
				continue
			}
		}
		switch s := cs.wait(ch, raised); {
		case s == "raised":
			// Look again, with a new channel, at the top of the loop.
		case s != "":
			stop = s
		default:
			window = max(window+1, provenWindow)
		}
	}
	// Cut, with all started and one succeeded: the nodes cut need their
	// pods as a node that joined does. Only a sync that has had a success
	// goes on at once, and at a wider window: one that started its whole
	// burst unanswered (a --burst-replicas within the window) leaves the
	// next sync to its pods' events, else each would queue the next with
	// none answered, a burst of calls per sync, failing or not.
	cut := more && stop == "" && cs.created > 0
	c.stopCreating(ctx, ds, cs, stop, resumeAt{uid: ds.UID, hash: hash, batch: window, cut: cut}, len(nodes)-started)
	if cut {
		c.renew(k)
		c.queue.Add(k)
	}
	if cs.inFlight > 0 { // only when the loop left them: it drains otherwise
		c.tails.Go(func() {
			if err := c.finishCreations(ds, cs); err != nil {
				c.failedInBackground(ctx, k, err)
			}
		})
		return nil
	}
	return c.finishCreations(ds, cs)
}

// startCreation creates ds's pod on node in the background, its result
// going to cs; the expectation is set first, so that no sync creates
// there meanwhile.
func (c *Controller) startCreation(ctx context.Context, ds *appsv1.DaemonSet, template *v1.PodTemplateSpec, node string, cs *creations) {
	cs.inFlight++
	c.expectations.Expect(key(ds), []string{node}, nil)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, createTimeout)
		defer cancel()
		cs.results <- c.createPod(cctx, ds, template, node)
	}()
}

// stopCreating records why a sync started no more creations: the window
// the next sync resumes at (after a success, a yield or a renewal), a
// queued sync after a yield, and the creations skipped.
func (c *Controller) stopCreating(ctx context.Context, ds *appsv1.DaemonSet, cs *creations, stop string, resume resumeAt, skipped int) {
	k := key(ds)
	if stop == "yield" || stop == "renewed" || stop == "" {
		resume.at = c.opts.Now()
		cs.resume = resume
		c.resume.Store(k, resume)
	}
	switch stop {
	case "yield", "renewed":
		if stop == "yield" { // after a renewal, the node worker queues k
			c.yielded.Store(k, true)
			c.queue.Add(k)
		}
		if skipped > 0 {
			c.metrics.Throttled.WithLabelValues("yield").Add(float64(skipped))
		}
		klog.FromContext(ctx).V(2).Info("Giving the worker up", "to", yieldedTo[stop], "skipped", skipped, "inFlight", cs.inFlight)
	case "slow_start":
		if skipped > 0 {
			c.metrics.Throttled.WithLabelValues(stop).Add(float64(skipped))
			klog.FromContext(ctx).V(2).Info("Slow-start failure, skipping the rest of the creations", "skipped", skipped)
		}
	}
}

var yieldedTo = map[string]string{"yield": "a more urgent DaemonSet", "renewed": "a node that needs a pod"}

// creations are a sync's pod creations.
type creations struct {
	results  chan error // buffered: nobody waits to report
	inFlight int
	created  int
	errs     []error
	release  func() // the gate's hold
	// began is when the sync started them, and resume the window it left
	// for the next sync: a background finish must not undo what a newer
	// sync of the same DaemonSet has set since.
	began  time.Time
	resume resumeAt
}

// wait takes the next creation's result, and tells why no more should
// start after it ("" after a success). A renewal ends the wait with
// "renewed", and a more urgent DaemonSet queued with "raised", taking no
// result, unless a result is already in.
func (cs *creations) wait(renewed, raised <-chan struct{}) string {
	var err error
	select {
	case err = <-cs.results:
	default:
		select {
		case err = <-cs.results:
		case <-renewed:
			return "renewed"
		case <-raised:
			return "raised"
		}
	}
	cs.inFlight--
	switch {
	case errors.Is(err, errNamespaceTerminating):
		return "slow_start" // every other creation fails the same way
	case err != nil:
		cs.errs = append(cs.errs, err)
		return "slow_start"
	}
	cs.created++
	return ""
}

// finishCreations waits for the creations in flight, then releases the
// gate and moves the DaemonSet's creation backoff. After a failure it
// drops the window it left for the next sync; after successes it raises a
// window still below provenWindow (left before any answer came).
func (c *Controller) finishCreations(ds *appsv1.DaemonSet, cs *creations) error {
	defer cs.release()
	for cs.inFlight > 0 {
		cs.wait(nil, nil)
	}
	if cs.created > 0 {
		c.createBackoff.resetUnlessSince(string(ds.UID), cs.began)
	}
	if slices.ContainsFunc(cs.errs, refused) {
		c.createBackoff.next(string(ds.UID), c.opts.Now())
	}
	switch {
	case cs.resume == (resumeAt{}):
	case len(cs.errs) > 0:
		// The next sync starts from one again, whether its window is still
		// the one this sync left or an older sync's success has raised it.
		raised := cs.resume
		raised.batch = max(raised.batch, provenWindow)
		if !c.resume.CompareAndDelete(key(ds), cs.resume) {
			c.resume.CompareAndDelete(key(ds), raised)
		}
	case cs.created > 0:
		c.raiseResume(ds, cs.resume.hash)
	}
	return errors.Join(cs.errs...)
}

// raiseResume raises the window a sync of ds's template left below
// provenWindow, as a creation of that template has now succeeded: when
// nodes join in a burst, each sync is renewed before its first answer,
// and would otherwise leave the next one a window of 1, a pod per sync.
// (The next sync may already have taken the window; then there is nothing
// to raise. A newer sync's failure may race with this and find its window
// raised: the next sync then starts at most resumeMaxBatch creations.)
func (c *Controller) raiseResume(ds *appsv1.DaemonSet, hash string) {
	k := key(ds)
	for {
		v, ok := c.resume.Load(k)
		if !ok {
			return
		}
		r := v.(resumeAt)
		if r.uid != ds.UID || r.hash != hash || r.batch >= provenWindow {
			return
		}
		raised := r
		raised.batch = provenWindow
		if c.resume.CompareAndSwap(k, r, raised) {
			return
		}
	}
}

// nextStop tells whether the next creation may start: "" if it may, else
// why the rest stop. A more urgent DaemonSet waiting for a worker takes
// this one's (when mayYield: past the first window, so every sync makes
// progress); one creating pods now is waited for (see prioritylimit.Gate),
// since its creations and ours would queue together in the API server.
// A sync held by the gate makes no progress either, so it yields even
// within its first window to a DaemonSet as urgent as the gate's holder
// (which the gate does not hold back): otherwise syncs held by the
// creations that a more urgent sync left in flight could take every
// worker while that DaemonSet's next sync, for the nodes joined since,
// waits for one. Nothing here polls: only a hold ending, or a more
// urgent DaemonSet queued, can make it yield or go on, and either wakes
// it to look again.
func (c *Controller) nextStop(ctx context.Context, priority int64, mayYield bool) string {
	for {
		// Both channels are taken with what they guard: see Raised, Look.
		raised := c.waiting.Raised()
		top, changed := c.gate.Look()
		if mayYield && c.waiting.Waiting(priority) {
			return "yield"
		}
		if top <= priority {
			return ""
		}
		if c.waiting.Waiting(top - 1) {
			return "yield" // the gate holds it
		}
		klog.FromContext(ctx).V(4).Info("Waiting for a more urgent DaemonSet's creations")
		select {
		case <-changed:
		case <-raised:
		case <-ctx.Done():
			return "canceled"
		}
	}
}

// resumeAt is where a DaemonSet's slow start stopped: it started all its
// creations, gave its worker up, or --burst-replicas cut them. It holds for
// the template it proved (hash) only: a new one may be refused.
type resumeAt struct {
	uid   types.UID
	hash  string
	batch int
	at    time.Time
	cut   bool // by --burst-replicas, with all its creations started and one succeeded
}

// createTimeout bounds a creation, its wait for the rate limiter
// included, to less than its expectation lives: the DaemonSet's next sync
// may run while it waits (see createPods), and once the expectation had
// expired that sync would create on its node too. A creation given up
// before it is sent releases its node at once.
var createTimeout = expectations.DefaultTTL - time.Minute

// provenWindow is the creations in flight once one has succeeded: what a
// client creating pods in parallel would use. Its failures cost little (a
// quota running out partway: at most this many refused calls, then the
// backoff), and it skips the doubling's first round trips, which on a
// 100-node rollout at raised limits took half its time to create the
// first 30 pods.
const provenWindow = 64

// Limits on resuming: only soon after, and at a window whose failure
// costs little, since the API server may have begun refusing (a quota
// another DaemonSet used up) since. A sync resumes at most resumeMaxBatch
// creations, and may yield to a more urgent DaemonSet once that many have
// started, so that few of its creations are in the API server ahead of
// that DaemonSet's. The next batch of a rollout cut by --burst-replicas,
// once one of the last's creations has succeeded, resumes at up to
// provenWindow, the window the last reached: at 16, its first answer
// waited behind the last's creations in flight, and the API server ran
// short of ours (0 to 30 in flight for 240 to 410 ms per batch of a
// 1,000-node rollout at raised limits).
const (
	resumeWithin   = 30 * time.Second
	resumeMaxBatch = 16
)

// takeResume returns how many creations a DaemonSet's slow start begins
// with: 1, unless its last creating sync, of the same template, was
// moments ago.
func (c *Controller) takeResume(ds *appsv1.DaemonSet, hash string) int {
	v, ok := c.resume.LoadAndDelete(key(ds))
	if !ok {
		return 1
	}
	r := v.(resumeAt)
	if r.uid != ds.UID || r.hash != hash || c.opts.Now().Sub(r.at) > resumeWithin {
		return 1
	}
	if r.cut {
		return min(r.batch, provenWindow)
	}
	return min(r.batch, resumeMaxBatch)
}

// refused reports whether the API server refused a creation on its merits
// (quota, admission, validation), which retrying soon cannot change. Other
// failures (500s, 429s, timeouts) are retried with the workqueue's backoff.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// mayExist reports whether a failed creation may have made its pod all the
// same: the API server timed out, and the pod may be committed or still in
// admission. As upstream, any other failure counts as no pod: a connection
// lost mid-request may rarely leave one behind, which the plan removes as a
// duplicate (the oldest pod stays), but waiting out the expectation instead
// would leave the node without its pod for minutes after every lost
// connection.
func mayExist(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}

// errNamespaceTerminating is a creation refused because the namespace is
// being deleted: not a failure (the DaemonSet goes with its namespace, and
// nothing is lost), but nothing else can be created there either.
var errNamespaceTerminating = errors.New("the namespace is being deleted")

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *v1.PodTemplateSpec, node string) error {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          template.Labels,
			Annotations:     template.Annotations,
			Finalizers:      template.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))},
		},
		Spec: *template.Spec.DeepCopy(),
	}
	pod.Spec.Affinity = bindToNode(pod.Spec.Affinity, node)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	c.metrics.PodsCreated.WithLabelValues(resultOf(err)).Inc()
	switch {
	case err == nil:
		c.recorder.Eventf(ds, v1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %s", created.Name)
		return nil
	case apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause):
		// No event either: the namespace refuses those too.
		c.creationFailed(ds, node)
		return errNamespaceTerminating
	case mayExist(err):
		// The pod may exist: keep expecting it so it is not made twice
		// (its node is left alone until the expectation expires).
		c.recorder.Eventf(ds, v1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("creating pod on node %s: %w", node, err)
	}
	c.creationFailed(ds, node)
	c.recorder.Eventf(ds, v1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
	return fmt.Errorf("creating pod on node %s: %w", node, err)
}

// gone reports whether ds has left the cache, deleted or replaced by a
// DaemonSet of the same name, while its sync was creating: the rest of its
// pods would have no owner, and the garbage collector would delete them.
func (c *Controller) gone(ds *appsv1.DaemonSet) bool {
	uid, ok := c.cachedUID(ds)
	return !ok || uid != ds.UID
}

// cachedUID is the UID of the DaemonSet the cache holds under ds's name,
// if any.
func (c *Controller) cachedUID(ds *appsv1.DaemonSet) (types.UID, bool) {
	cur, err := c.dsLister.DaemonSets(ds.Namespace).Get(ds.Name)
	if err != nil {
		return "", false
	}
	return cur.UID, true
}

// creationFailed releases node for another creation, unless ds was deleted
// and made again under its name while the creation was in flight (it may
// have finished in the background): expectations are kept by name, and
// the new DaemonSet's may name the same node.
func (c *Controller) creationFailed(ds *appsv1.DaemonSet, node string) {
	if uid, ok := c.cachedUID(ds); ok && uid != ds.UID {
		return
	}
	c.expectations.CreationObserved(key(ds), node)
}

// podTemplate is the DaemonSet's template plus what every daemon pod
// carries: the automatic tolerations, the revision hash and the legacy
// template generation labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) *v1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	placement.AddDaemonTolerations(&t.Spec)
	lbls := make(map[string]string, len(t.Labels)+2)
	for k, v := range t.Labels {
		lbls[k] = v
	}
	if g := templateGeneration(ds); g != nil {
		lbls[plan.TemplateGenerationLabel] = strconv.FormatInt(*g, 10)
	}
	if hash != "" {
		lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	t.Labels = lbls
	return t
}

// bindToNode makes the required node affinity select exactly node, so that
// kube-scheduler binds the pod there (and only there). Any required terms
// of the template are replaced: the node was already checked against them.
func bindToNode(a *v1.Affinity, node string) *v1.Affinity {
	sel := &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchFields: []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if a == nil {
		a = &v1.Affinity{}
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
	return a
}

// deletePods deletes pods in parallel, with the given grace period (nil for
// the pod's own). The UID precondition guarantees that only the pod the
// plan saw is deleted.
func (c *Controller) deletePods(ctx context.Context, ds *appsv1.DaemonSet, pods []*v1.Pod, grace *int64) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			uid := pod.UID
			err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid},
			})
			c.metrics.PodsDeleted.WithLabelValues(resultOf(err)).Inc()
			switch {
			case err == nil:
				c.recorder.Eventf(ds, v1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %s", pod.Name)
				return
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
				// Already gone (or replaced): the deletion event may never come.
				c.expectations.DeletionObserved(key(ds), uid)
				return
			}
			c.expectations.DeletionObserved(key(ds), uid)
			c.recorder.Eventf(ds, v1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
			mu.Lock()
			errs = append(errs, fmt.Errorf("deleting pod %s: %w", pod.Name, err))
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func resultOf(err error) string {
	if err != nil {
		return metrics.ResultError
	}
	return metrics.ResultSuccess
}
