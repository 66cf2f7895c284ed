package controller

import "context"

// A renewal tells a DaemonSet's sync that new work for it came in while it
// runs: a node that needs its pod. A sync waiting for its creations'
// answers then leaves them in flight and gives its worker up, so that the
// node is served by the next sync (already queued) at once rather than a
// round trip or two later. A renewed sync that acted also leaves its
// status write, and a rollout step, to the next sync, and any renewed
// sync gives up a status write not yet answered (or not yet begun), for
// at most maxStatusHold in a row (see mayHold). When nodes join one after
// another under a busy API server, a sync of the CNI's DaemonSet held it
// for 0.8 to 1.9 s (its creations and its status write) while the nodes
// that joined meanwhile waited.
//
// A sync cut short by --burst-replicas renews itself once one of its
// creations has succeeded: the nodes it left need their pods as much.
//
// A sync held at the gate (see nextStop) does not give way: the next sync
// would be held the same, with nothing created. Only node work renews a
// sync. The DaemonSet's own pod events do not:
// during a large rollout they arrive all the time, and the sync that waits
// for its creations is what gathers them into one sync instead of many,
// each reading every pod (a rollout of 3,000 pods took a third more CPU
// without that wait).
//
// A renewal is a context that renew cancels, so that a request can be
// given up on it (see writeStatusUnlessRenewed) with no goroutine to
// watch for it.
type renewal struct {
	ctx   context.Context
	renew context.CancelFunc
}

// beginRenewal registers the sync of k, until endRenewal.
func (c *Controller) beginRenewal(k string) *renewal {
	ctx, renew := context.WithCancel(context.Background())
	r := &renewal{ctx: ctx, renew: renew}
	c.renewals.Store(k, r)
	return r
}

// endRenewal ends the registration of r. Its context, made from
// Background and never watched once the sync ends, needs no release.
func (c *Controller) endRenewal(k string, r *renewal) { c.renewals.CompareAndDelete(k, r) }

// done reports whether the sync has been renewed.
func (r *renewal) done() bool { return r.ctx.Err() != nil }

// renew tells the sync of k, if one runs, that k has new node work; the
// caller queues k after this call. Queued before it, k could be taken by
// a new sync, which this renewal would then end with nothing queued.
func (c *Controller) renew(k string) {
	if v, ok := c.renewals.Load(k); ok {
		v.(*renewal).renew()
	}
}

// renewed returns the channel closed when the running sync of k is
// renewed; nil (never closed) outside a sync.
func (c *Controller) renewed(k string) <-chan struct{} {
	if v, ok := c.renewals.Load(k); ok {
		return v.(*renewal).ctx.Done()
	}
	return nil
}
