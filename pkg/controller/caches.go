package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// informerState follows one informer for readiness: whether its cache has
// synced and, until it has, the last error of its list or watch (RBAC that
// forbids listing nodes, say), which otherwise only client-go's log shows.
type informerState struct {
	name   string
	synced cache.InformerSynced

	mu  sync.Mutex
	err error
}

// track follows inf under name. It must be called before inf starts.
func (c *Controller) track(name string, inf cache.SharedIndexInformer) error {
	s := &informerState{name: name, synced: inf.HasSynced}
	err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		cache.DefaultWatchErrorHandler(ctx, r, err) // logs it, as before
	})
	if err != nil {
		return err
	}
	c.informers = append(c.informers, s)
	return nil
}

// CacheSyncError names the informer caches that have not synced yet, each
// with the last error of its list or watch; nil once all have synced.
func (c *Controller) CacheSyncError() error {
	var missing []string
	for _, s := range c.informers {
		if s.synced() {
			continue
		}
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", s.name, err))
		} else {
			missing = append(missing, s.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("informer caches not synced: %s", strings.Join(missing, "; "))
}

// cacheSyncReport is how often a controller waiting for its caches logs
// which are missing, and why.
const cacheSyncReport = 30 * time.Second

// waitForCaches waits until every cache has synced, or ctx ends. Every
// report it logs what is missing: a cache that never syncs (RBAC that
// forbids a list, say) leaves the controller idle, and must say why.
func (c *Controller) waitForCaches(ctx context.Context, report time.Duration) bool {
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	next := time.Now().Add(report)
	for {
		err := c.CacheSyncError()
		if err == nil {
			return true
		}
		if time.Now().After(next) {
			klog.FromContext(ctx).Error(err, "Still waiting for informer caches to sync: doing nothing until every cache has synced")
			next = time.Now().Add(report)
		}
		select {
		case <-ctx.Done():
			return false
		case <-poll.C:
		}
	}
}
