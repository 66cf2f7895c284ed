package prioritylimit

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		ctx := context.Background()
		look, cancel := context.WithCancel(ctx) // a context already ended: look, don't block
		cancel()
		if g.Wait(ctx, 0) {
			t.Fatal("an empty gate made work wait")
		}
		release := g.Hold(1000)
		if g.Wait(ctx, 1000) || g.Wait(ctx, 2000) {
			t.Error("work waited for work of equal or lower priority")
		}
		if !g.Wait(look, 0) {
			t.Error("lower-priority work did not wait while higher-priority work was under way")
		}
		done := make(chan bool)
		go func() { done <- g.Wait(ctx, 0) }()
		synctest.Wait() // blocked: it must not return before the release
		select {
		case <-done:
			t.Fatal("Wait returned while the hold was still held")
		default:
		}
		release()
		release() // a second release changes nothing
		select {
		case still := <-done:
			if still {
				t.Error("Wait reported the hold after its release")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not end when the hold was released")
		}
		// Two holds at one priority: both must end.
		r1, r2 := g.Hold(5), g.Hold(5)
		r1()
		if !g.Wait(look, 0) {
			t.Error("one of two holds ended, and lower work went ahead")
		}
		r2()
		if g.Wait(ctx, 0) {
			t.Error("both holds ended, and lower work still waited")
		}
		// A cancelled context ends the wait.
		defer g.Hold(10)()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if !g.Wait(cctx, 0) {
			t.Error("a cancelled wait reported nothing under way")
		}
	})
}

// TestGateLook: Look's channel closes when any hold ends, even while work
// above goes on, so that a caller deciding on the top decides again; Wait
// waits on until no work above is left, or its context ends.
func TestGateLook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		ctx := context.Background()
		defer g.Hold(100)()
		release := g.Hold(200)
		defer release() // on failure; a release is once only
		top, changed := g.Look()
		if top != 200 {
			t.Fatalf("Look's top = %d, want 200", top)
		}
		waited := make(chan bool, 1)
		go func() { waited <- g.Wait(ctx, 0) }()
		synctest.Wait()
		select {
		case <-changed:
			t.Fatal("Look's channel closed with no hold ended")
		default:
		}
		if len(waited) != 0 {
			t.Fatal("Wait returned with no hold ended")
		}
		release()
		synctest.Wait()
		select {
		case <-changed:
		default:
			t.Error("a hold ended, and Look's channel stayed open")
		}
		if top, _ := g.Look(); top != 100 {
			t.Errorf("Look's top after the 200 ended = %d, want 100", top)
		}
		if len(waited) != 0 {
			t.Error("Wait returned while work above went on")
		}
		began := time.Now()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if !g.Wait(cctx, 0) || time.Since(began) != time.Second {
			t.Error("Wait did not end at its context's deadline")
		}
	})
}

func TestGateTop(t *testing.T) {
	g := NewGate()
	if got, _ := g.Look(); got != math.MinInt64 {
		t.Errorf("top of an idle gate = %d", got)
	}
	a, b := g.Hold(5), g.Hold(9)
	if got, _ := g.Look(); got != 9 {
		t.Errorf("top = %d, want 9", got)
	}
	b()
	if got, _ := g.Look(); got != 5 {
		t.Errorf("top after the 9 ended = %d, want 5", got)
	}
	a()
}

// TestGateBusySince: the gate is busy from the first hold taken while it
// was free until the last one ends, whatever holds come and go between.
func TestGateBusySince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate()
		if _, busy := g.BusySince(); busy {
			t.Fatal("a new gate is busy")
		}
		began := time.Now()
		first := g.Hold(0)
		time.Sleep(time.Second)
		second := g.Hold(1000)
		first()
		if since, busy := g.BusySince(); !busy || !since.Equal(began) {
			t.Errorf("BusySince = %v, %t; want %v, true: the second hold came while the first was under way", since, busy, began)
		}
		second()
		if _, busy := g.BusySince(); busy {
			t.Error("busy after every hold ended")
		}
		time.Sleep(time.Second)
		again := time.Now()
		defer g.Hold(-5)()
		if since, busy := g.BusySince(); !busy || !since.Equal(again) {
			t.Errorf("BusySince = %v, %t; want %v, true: a new busy period", since, busy, again)
		}
	})
}
