package prioritylimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// sent is a RoundTripper that records the methods of the requests it gets.
type sent struct {
	mu      sync.Mutex
	methods []string
}

func (s *sent) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods = append(s.methods, req.Method)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func (s *sent) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.methods...)
}

// closeTracker is a request body that knows whether it was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func request(t *testing.T, ctx context.Context, method string) (*http.Request, *closeTracker) {
	t.Helper()
	body := &closeTracker{Reader: strings.NewReader("{}")}
	req, err := http.NewRequestWithContext(ctx, method, "https://api.example/api/v1/namespaces/ns/pods", body)
	if err != nil {
		t.Fatal(err)
	}
	return req, body
}

// TestTransportTakesATokenPerRequest: each request takes a token before it
// is sent; one that finds none waits, and leaves unsent (its body closed)
// when its context ends.
func TestTransportTakesATokenPerRequest(t *testing.T) {
	l := New(0.001, 2) // the third token comes in 1,000 s
	defer l.Stop()
	next := &sent{}
	var observed []string
	rt := l.Transport(func(method string, waited time.Duration) {
		if waited < 0 {
			t.Errorf("waited %v", waited)
		}
		observed = append(observed, method)
	})(next)
	for _, m := range []string{http.MethodPost, http.MethodDelete} {
		req, _ := request(t, context.Background(), m)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	if l.TryAccept() {
		t.Fatal("the bucket still had a token after two requests")
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, body := request(t, ctx, http.MethodPut)
	done := make(chan error)
	go func() {
		_, err := rt.RoundTrip(req)
		done <- err
	}()
	waitFor(t, func() bool { return l.Waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a request without a token returned %v, want context.Canceled", err)
	}
	if !body.closed {
		t.Fatal("the unsent request's body was left open")
	}
	want := []string{http.MethodPost, http.MethodDelete}
	if got := next.got(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if !reflect.DeepEqual(observed, want) {
		t.Fatalf("observed waits of %v, want %v", observed, want)
	}
}

// TestTransportByPriority: requests queued in the transport are sent
// highest priority first, the priority coming from their context.
func TestTransportByPriority(t *testing.T) {
	l := New(5, 1)
	defer l.Stop()
	drain(l)
	l.mu.Lock()
	l.tokens = -2 // hold the next token back 600 ms, while all queue
	l.mu.Unlock()
	next := &sent{}
	rt := l.Transport(nil)(next)
	got := queueUpWith(t, l, []int64{0, 1000, 10}, func(ctx context.Context) error {
		req, _ := request(t, ctx, fmt.Sprintf("P%d", Priority(ctx)))
		_, err := rt.RoundTrip(req)
		return err
	})
	if want := []int64{1000, 10, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("granted %v, want %v", got, want)
	}
	if got, want := next.got(), []string{"P1000", "P10", "P0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// TestTransportStopped: once the limiter is stopped nothing is sent.
func TestTransportStopped(t *testing.T) {
	l := New(100, 10)
	l.Stop()
	next := &sent{}
	req, body := request(t, context.Background(), http.MethodPost)
	if _, err := l.Transport(nil)(next).RoundTrip(req); !errors.Is(err, ErrStopped) {
		t.Fatalf("RoundTrip returned %v, want ErrStopped", err)
	}
	if len(next.got()) != 0 || !body.closed {
		t.Fatalf("sent %v, body closed %v", next.got(), body.closed)
	}
}
