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
	lock          *timedLock
	id            string
	renewDeadline time.Duration
	leading, lost chan struct{}
	// fence is called the moment the lease is lost, before anything else:
	// it makes every API request not yet sent fail (see main.go).
	fence func()
}

func newElector(client kubernetes.Interface, o options, m *metrics.Metrics, fence func()) (*elector, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s_%d_%d", host, os.Getpid(), time.Now().UnixNano())
	e := &elector{
		id: id, renewDeadline: o.renewDeadline, fence: fence,
		leading: make(chan struct{}), lost: make(chan struct{}),
		lock: &timedLock{Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: o.leaseName, Namespace: o.leaseNS},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}},
	}
	var lostOnce sync.Once
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          e.lock,
		Name:          name,
		LeaseDuration: o.leaseDuration,
		RenewDeadline: o.renewDeadline,
		RetryPeriod:   o.retryPeriod,
		// client-go would release the lease as soon as renewal stops, even
		// while our workers still write; lead releases it itself, after.
		ReleaseOnCancel: false,
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
// When the lease is lost, the fence stops every write at once.
func (e *elector) lead(ctx context.Context, work func(context.Context) error) error {
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	electDone := make(chan struct{})
	go func() {
		defer close(electDone)
		e.le.Run(electCtx) // returns when renewal fails or electCtx ends
	}()
	stop := func() {
		stopElecting()
		<-electDone
	}
	select {
	case <-ctx.Done():
		stop()
		return nil
	case <-e.lost:
		return errLostLease
	case <-e.leading:
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workErr := make(chan error, 1)
	go func() { workErr <- work(workCtx) }()
	watchdog := time.NewTicker(100 * time.Millisecond)
	defer watchdog.Stop()
	for {
		select {
		case <-e.lost:
			e.fence()
			return errLostLease
		case <-watchdog.C:
			// Others may take the lease leaseDuration after our last
			// renewal reached the API server. client-go reports the loss
			// only after its renew deadline and a release attempt, and
			// measures from when it last saw the lease, not from our last
			// successful renewal: stop at that renewal + renewDeadline,
			// or as soon as client-go has seen another holder.
			if e.lock.sinceRenewed() > e.renewDeadline || !e.le.IsLeader() {
				e.fence()
				return errLostLease
			}
		case err := <-workErr:
			stop()
			e.release()
			return err
		}
	}
}

// release gives the lease up after a clean stop, so a standby takes over at
// once, but only if the API server still names us: the lease may have been
// taken meanwhile, and must not be overwritten.
func (e *elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.renewDeadline)
	defer cancel()
	rec, _, err := e.lock.Get(ctx)
	if err != nil || rec.HolderIdentity != e.id {
		return
	}
	now := metav1.NewTime(time.Now())
	err = e.lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
	if err != nil {
		klog.Background().Error(err, "Releasing the lease failed; the standby takes over when it expires")
	}
}

// healthy reports whether a leader's lease renewal is overdue.
func (e *elector) healthy() error {
	return e.le.Check(2 * time.Second)
}

// timedLock is the Lease lock, recording when the last successful write of
// the lease (acquire or renew) was sent: the API server applied it no
// earlier, so no other replica can take the lease before leaseDuration
// from then.
type timedLock struct {
	resourcelock.Interface
	mu      sync.Mutex
	renewed time.Time
}

func (l *timedLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.timed(func() error { return l.Interface.Create(ctx, r) })
}

func (l *timedLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.timed(func() error { return l.Interface.Update(ctx, r) })
}

func (l *timedLock) timed(write func() error) error {
	sent := time.Now()
	err := write()
	if err == nil {
		l.mu.Lock()
		l.renewed = sent
		l.mu.Unlock()
	}
	return err
}

func (l *timedLock) sinceRenewed() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.renewed)
}
