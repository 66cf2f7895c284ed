// Package eventlimit decides which events are worth recording at all. It
// drops, before any work is spent on them, the events that client-go's
// event correlator would drop anyway: its spam filter lets through 25
// events at once per object and event type, then one every five minutes.
//
// The correlator filters last, after it has aggregated the event with
// similar ones and computed a JSON merge patch for it. A rollout over
// thousands of nodes records one event per pod on the same DaemonSet, so
// nearly all of them are dropped, and that work was 5% of the
// controller's CPU. Two differences a user can see: the count on the
// "combined from similar events" event grows only by events that pass;
// and an event is looked at here when it is recorded, by the correlator a
// moment later (after the broadcaster's queue), so the one event that
// comes just as a token is due back may be dropped here where the
// correlator would have sent it.
package eventlimit

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
)

// The spam filter's parameters, from k8s.io/client-go/tools/record
// (defaultSpamBurst, defaultSpamQPS); it is not configurable there. Its
// rate is a float32 there, and so here.
const (
	burst = 25
	qps   = float64(float32(1. / 300.))
	// maxKeys bounds the memory, as the correlator's cache of 4096
	// entries does. A new key past it clears them all. The correlator
	// forgets a key only after 4096 others have come after it, and
	// those came through here first: by then this filter has forgotten
	// it too. So it may pass events the correlator drops, never the
	// other way round.
	maxKeys = 4096
)

// Recorder is a record.EventRecorder that passes on only the events the
// spam filter would pass.
type Recorder struct {
	next    record.EventRecorder
	now     func() time.Time
	mu      sync.Mutex
	buckets map[key]*bucket
}

type key struct {
	uid, namespace, name, eventtype string
}

// bucket is a token bucket as the spam filter's: burst tokens, refilled
// at qps.
type bucket struct {
	tokens float64
	at     time.Time
}

// New wraps next.
func New(next record.EventRecorder) *Recorder {
	return &Recorder{next: next, now: time.Now, buckets: map[key]*bucket{}}
}

func (r *Recorder) Event(object runtime.Object, eventtype, reason, message string) {
	if r.allow(object, eventtype) {
		r.next.Event(object, eventtype, reason, message)
	}
}

func (r *Recorder) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{}) {
	if r.allow(object, eventtype) {
		r.next.Eventf(object, eventtype, reason, messageFmt, args...)
	}
}

func (r *Recorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...interface{}) {
	if r.allow(object, eventtype) {
		r.next.AnnotatedEventf(object, annotations, eventtype, reason, messageFmt, args...)
	}
}

func (r *Recorder) allow(object runtime.Object, eventtype string) bool {
	m, err := meta.Accessor(object)
	if err != nil {
		return true // the recorder itself reports what it cannot refer to
	}
	k := key{string(m.GetUID()), m.GetNamespace(), m.GetName(), eventtype}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[k]
	if b == nil {
		if len(r.buckets) >= maxKeys {
			clear(r.buckets)
		}
		b = &bucket{tokens: burst, at: now}
		r.buckets[k] = b
	}
	b.refill(now)
	// As golang.org/x/time/rate, which the correlator uses: a token
	// missing less than a nanosecond's worth counts as there.
	if b.tokens < 1 && time.Duration((1-b.tokens)/qps*float64(time.Second)) > 0 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*qps)
		b.at = now
	}
}
