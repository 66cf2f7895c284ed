package controller

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonset-controller/daemonset-controller/pkg/plan"
)

// Status writes run in the background, one at a time per DaemonSet: a
// write holds neither a worker nor the DaemonSet's key for its round trip.
// When nodes join one after another under a busy API server, each sync of
// a DaemonSet wrote its status before the next could create the pods of
// the nodes that had joined meanwhile (the critical pods of 100 nodes
// joining under 20 DaemonSets waited up to a round trip for it).

// statusJob is a status write a sync asked for.
type statusJob struct {
	ctx      context.Context
	ds       *appsv1.DaemonSet
	counts   plan.Counts
	observed bool
}

// statusWrites holds, for each DaemonSet whose writer runs, the write
// asked for since its current one began (nil if none).
type statusWrites struct {
	mu   sync.Mutex
	next map[string]*statusJob
}

// writeStatusLater has job written by the DaemonSet's writer, starting one
// if none runs. A write asked for while one is in flight replaces any
// other still waiting: it is newer. But it never drops an observed
// generation the waiting one would write: of the same generation, it
// writes it too; of a later one, it is dropped instead (the event of the
// waiting write brings a sync that asks again).
func (c *Controller) writeStatusLater(job statusJob) {
	k := key(job.ds)
	w := &c.statusWrites
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next == nil {
		w.next = map[string]*statusJob{}
	}
	if waiting, running := w.next[k]; running {
		if waiting != nil && waiting.ds.UID == job.ds.UID && waiting.observed && !job.observed {
			if waiting.ds.Generation != job.ds.Generation {
				return
			}
			job.observed = true
		}
		w.next[k] = &job
		return
	}
	w.next[k] = nil
	c.tails.Go(func() { c.statusWriter(k, job) })
}

// statusWriter writes job, then each write asked for meanwhile, until none
// waits. A failed write fails the DaemonSet's next sync (see
// failedInBackground).
func (c *Controller) statusWriter(k string, job statusJob) {
	for {
		if err := c.runStatusJob(job); err != nil && job.ctx.Err() == nil { // not at shutdown
			c.failedInBackground(job.ctx, k, err)
		}
		w := &c.statusWrites
		w.mu.Lock()
		next := w.next[k]
		if next == nil {
			delete(w.next, k)
			w.mu.Unlock()
			return
		}
		w.next[k] = nil
		w.mu.Unlock()
		job = *next
	}
}

// runStatusJob writes job's status, unless the write before it (which the
// sync that asked could not see) already says it, or the DaemonSet is
// gone or replaced.
func (c *Controller) runStatusJob(job statusJob) error {
	ds := job.ds
	if !c.cachedAs(ds) {
		return nil
	}
	if !c.statusNeeded(ds, job.counts, job.observed) {
		return nil
	}
	err := c.updateStatus(job.ctx, ds, job.counts, job.observed)
	if !c.cachedAs(ds) {
		// Deleted during the write: its sync may have forgotten the last
		// write before this one stored it.
		if w, ok := c.lastWrite(ds); ok && w.uid == ds.UID {
			c.statusWritten.Delete(key(ds))
		}
	}
	return err
}

// cachedAs reports whether the cache holds ds itself, not being deleted.
func (c *Controller) cachedAs(ds *appsv1.DaemonSet) bool {
	cur, err := c.dsLister.DaemonSets(ds.Namespace).Get(ds.Name)
	return err == nil && cur.UID == ds.UID && cur.DeletionTimestamp == nil
}
