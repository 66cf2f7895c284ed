package priorityqueue

import (
	"math"
	"reflect"
	"testing"

	"k8s.io/client-go/util/workqueue"
)

func TestOrder(t *testing.T) {
	prio := map[string]int64{"cni": 2000001000, "csi": 2000001000, "logs": 0, "metrics": 100}
	q := New(func(k string) int64 { return prio[k] })
	for _, k := range []string{"logs", "cni", "metrics", "csi"} {
		q.Push(k)
	}
	var got []string
	for q.Len() > 0 {
		got = append(got, q.Pop())
	}
	if want := []string{"cni", "csi", "metrics", "logs"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestInWorkqueue: as the Queue of a client-go workqueue, duplicates are
// still merged and the most urgent key comes out first.
func TestInWorkqueue(t *testing.T) {
	prio := map[string]int64{"a": 1, "b": 5, "c": 3}
	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Queue: New(func(k string) int64 { return prio[k] })})
	defer q.ShutDown()
	for _, k := range []string{"a", "b", "a", "c", "b"} {
		q.Add(k)
	}
	if q.Len() != 3 {
		t.Fatalf("len %d, want 3", q.Len())
	}
	var got []string
	for i := 0; i < 3; i++ {
		k, _ := q.Get()
		got = append(got, k)
		q.Done(k)
	}
	if want := []string{"b", "c", "a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func BenchmarkPushPop(b *testing.B) {
	q := New(func(k int) int64 { return int64(k % 7) })
	for i := 0; i < b.N; i++ {
		q.Push(i)
		if q.Len() > 1000 {
			q.Pop()
		}
	}
}

func TestWaiting(t *testing.T) {
	prio := map[string]int64{"cni": 2000001000, "logs": 0}
	q := New(func(k string) int64 { return prio[k] })
	if q.Waiting(-1) {
		t.Fatal("an empty queue has an item waiting")
	}
	q.Push("logs")
	if !q.Waiting(-1) || q.Waiting(0) {
		t.Fatal("Waiting disagrees with a queue holding priority 0")
	}
	q.Push("cni")
	if !q.Waiting(0) || q.Waiting(2000001000) {
		t.Fatal("Waiting disagrees with a queue holding cni")
	}
	q.Pop()
	if q.Waiting(0) || !q.Waiting(-1) {
		t.Fatal("Waiting still sees cni after it was popped")
	}
	q.Pop()
	if q.Waiting(math.MinInt64 + 1) {
		t.Fatal("an emptied queue has an item waiting")
	}
}

// TestRaised: the channel closes when, and only when, a push makes the
// queue more urgent than it was, so a waiter wakes exactly when Waiting
// may have turned true.
func TestRaised(t *testing.T) {
	prio := map[string]int64{"cni": 2000001000, "csi": 2000001000, "logs": 0, "metrics": 100}
	q := New(func(k string) int64 { return prio[k] })
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		push string
		pop  bool
		want bool
	}{
		{push: "logs", want: true},    // an empty queue gets an item
		{push: "metrics", want: true}, // more urgent than logs
		{push: "logs", want: false},   // already queued below the top
		{push: "cni", want: true},     // the top rises
		{push: "csi", want: false},    // as urgent as the top
		{pop: true, want: false},      // popping never raises it
		{pop: true, want: false},      // down to metrics
		{push: "cni", want: true},     // back up after the pops
	}
	for i, s := range steps {
		ch := q.Raised()
		if s.pop {
			q.Pop()
		} else {
			q.Push(s.push)
		}
		if got := closed(ch); got != s.want {
			t.Fatalf("step %d (push %q, pop %v): closed = %v, want %v", i, s.push, s.pop, got, s.want)
		}
	}
}
