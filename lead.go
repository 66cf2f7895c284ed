package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
)

// elector is a Lease-based leader election whose transitions arrive as
// channels: leading closes when this process takes the lease, lost when it
// stops holding it.
type elector struct {
	le            *leaderelection.LeaderElector
	leading, lost chan struct{}
	// overdue is how far the renewal may lag behind the lease duration
	// before we stop on our own: renewDeadline - leaseDuration (negative).
	overdue time.Duration
}

func newElector(client kubernetes.Interface, o options, m *metrics.Metrics) (*elector, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s_%d_%d", host, os.Getpid(), time.Now().UnixNano())
	e := &elector{leading: make(chan struct{}), lost: make(chan struct{}), overdue: o.renewDeadline - o.leaseDuration}
	var lostOnce sync.Once
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: o.leaseName, Namespace: o.leaseNS},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		Name:            name,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				m.Leader.Set(1)
				close(e.leading)
			},
			OnStoppedLeading: func() {
				m.Leader.Set(0)
				lostOnce.Do(func() { close(e.lost) })
			},
			OnNewLeader: func(identity string) {
				klog.Background().Info("New leader", "identity", identity, "self", identity == id)
			},
		},
	})
	if err != nil {
		return nil, err
	}
	e.le = le
	return e, nil
}

// errLostLease ends a leader that failed to renew its lease: another
// replica may lead now, so this one stops writing at once and exits.
var errLostLease = errors.New("lost the leader lease; exiting so that only the new leader writes")

// lead runs work while this process holds the lease. When ctx ends (a
// signal), work stops first so in-flight syncs finish, and only then is the
// lease released: a standby takes over at once, never while we still write.
func (e *elector) lead(ctx context.Context, work func(context.Context) error) error {
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	electDone := make(chan struct{})
	go func() {
		defer close(electDone)
		e.le.Run(electCtx) // returns when renewal fails or electCtx ends
	}()
	release := func() {
		stopElecting()
		<-electDone
	}
	select {
	case <-ctx.Done():
		release()
		return nil
	case <-e.lost:
		return errLostLease
	case <-e.leading:
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workErr := make(chan error, 1)
	go func() { workErr <- work(workCtx) }()
	overdue := time.NewTicker(100 * time.Millisecond)
	defer overdue.Stop()
	for {
		select {
		case <-e.lost:
			return errLostLease
		case <-overdue.C:
			// client-go reports the loss only after it has also tried to
			// release the lease, which, cut off from the API server, takes
			// another renew deadline: past the lease duration, when another
			// replica may already lead. Stop at the renew deadline instead.
			if e.le.Check(e.overdue) != nil {
				return errLostLease
			}
			continue
		case err := <-workErr:
			release()
			return err
		}
	}
}

// healthy reports whether a leader's lease renewal is overdue.
func (e *elector) healthy() error {
	return e.le.Check(2 * time.Second)
}
