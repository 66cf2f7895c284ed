package bed

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// fpUpstreamServer is a TLS (HTTP/2) test server standing in for
// kube-apiserver; hits counts the requests that reached it.
type fpUpstreamServer struct {
	*httptest.Server
	hits atomic.Int32
}

func fpUpstream(t *testing.T, h http.HandlerFunc) *fpUpstreamServer {
	t.Helper()
	u := &fpUpstreamServer{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	u.EnableHTTP2 = true
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

// fpProxy starts a FaultProxy in front of u, closed when the test ends.
func fpProxy(t *testing.T, u *fpUpstreamServer) *FaultProxy {
	t.Helper()
	target, _ := url.Parse(u.URL)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.Certificate().Raw})
	p, err := NewFaultProxy(target, ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// fpClient talks to the proxy with its own connections.
func fpClient(t *testing.T, p *FaultProxy) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// fpClientset reaches the proxy the way the controller does: client-go with
// a bearer token.
func fpClientset(t *testing.T, p *FaultProxy) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: p.URL(), BearerToken: "tok", QPS: 100, Burst: 100,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CAPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func fpOK(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// fpFakeAPI serves a pod list, and a watch that sends one ADDED event and
// then stays open until the caller leaves.
func fpFakeAPI(watchEnded chan<- struct{}) http.HandlerFunc {
	pod := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p1","namespace":"default","resourceVersion":"1"}}`
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !IsWatch(r) {
			fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[%s]}`, pod)
			return
		}
		fmt.Fprintf(w, `{"type":"ADDED","object":%s}`+"\n", pod)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		if watchEnded != nil {
			watchEnded <- struct{}{}
		}
	}
}

// fpStreamer sends each string from lines as its own flushed write.
func fpStreamer(lines <-chan string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case l := <-lines:
				_, _ = io.WriteString(w, l+"\n")
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}
}

// fpReadLines delivers a response body's lines, then its final read error
// (nil for a clean end) on errc.
func fpReadLines(body io.ReadCloser) (<-chan string, <-chan error) {
	lines, errc := make(chan string, 10), make(chan error, 1)
	go func() {
		defer body.Close()
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		errc <- sc.Err()
	}()
	return lines, errc
}

func fpWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fpOutcomes(p *FaultProxy, o Outcome) int { return p.Stats().ByOutcome[o] }

func TestFaultProxyForwardsUnchanged(t *testing.T) {
	u := fpUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Up", "yes")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s %s %s %s HTTP/%d", r.Method, r.URL.Path, r.URL.RawQuery,
			r.Header.Get("Authorization"), r.Header.Get("X-Test"), body, r.ProtoMajor)
	})
	p := fpProxy(t, u)
	req, _ := http.NewRequest(http.MethodPost, p.URL()+"/api/v1/namespaces/a/pods?dryRun=All", strings.NewReader("body"))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("X-Test", "x")
	resp, err := fpClient(t, p).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "POST /api/v1/namespaces/a/pods dryRun=All Bearer secret x body HTTP/2"
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Up") != "yes" || string(got) != want {
		t.Fatalf("got %d %q %q, want 201 X-Up=yes %q", resp.StatusCode, resp.Header.Get("X-Up"), got, want)
	}
}

func TestFaultProxyFlushesStreams(t *testing.T) {
	lines := make(chan string)
	p := fpProxy(t, fpUpstream(t, fpStreamer(lines)))
	resp, err := fpClient(t, p).Get(p.URL() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := fpReadLines(resp.Body)
	// Each line must arrive while the upstream response is still open.
	for _, l := range []string{"one", "two", "three"} {
		lines <- l
		select {
		case g := <-got:
			if g != l {
				t.Fatalf("got %q, want %q", g, l)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %q was not flushed", l)
		}
	}
}

func TestFaultProxyKubeconfigCarriesToken(t *testing.T) {
	var auth atomic.Value
	api := fpFakeAPI(nil)
	p := fpProxy(t, fpUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		api(w, r)
	}))
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := p.WriteKubeconfig(path, "the-token"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	pods, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || auth.Load() != "Bearer the-token" {
		t.Fatalf("got %d pods, Authorization %q", len(pods.Items), auth.Load())
	}
}

func TestFaultProxyError(t *testing.T) {
	u := fpUpstream(t, fpOK)
	p := fpProxy(t, u)
	p.SetFaults(Faults{ErrorRate: 1})
	_, err := fpClientset(t, p).CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{})
	if !apierrors.IsInternalError(err) {
		t.Fatalf("got %v, want an InternalError", err)
	}
	if u.hits.Load() != 0 || fpOutcomes(p, OutcomeError) != 1 {
		t.Fatalf("upstream hits %d, stats %v", u.hits.Load(), p.Stats())
	}
}

func TestFaultProxyTooManyRequests(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpOK))
	p.SetFaults(Faults{TooManyRate: 1, RetryAfterSeconds: 1})

	resp, err := fpClient(t, p).Get(p.URL() + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	var st metav1.Status
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" ||
		st.Reason != metav1.StatusReasonTooManyRequests || st.Details == nil || st.Details.RetryAfterSeconds != 1 {
		t.Fatalf("got %d Retry-After=%q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), st)
	}

	// client-go honours Retry-After: one retry, a second later.
	start := time.Now()
	err = fpClientset(t, p).CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("p").
		MaxRetries(1).Do(context.Background()).Error()
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("got %v, want TooManyRequests", err)
	}
	if s, ok := apierrors.SuggestsClientDelay(err); !ok || s != 1 {
		t.Fatalf("suggested delay %d %v, want 1s", s, ok)
	}
	if n, d := len(p.Requests(start)), time.Since(start); n != 2 || d < time.Second {
		t.Fatalf("client-go sent %d requests in %v, want 2 over at least 1s", n, d)
	}
}

func TestFaultProxyReset(t *testing.T) {
	u := fpUpstream(t, fpOK)
	p := fpProxy(t, u)
	p.SetFaults(Faults{ResetRate: 1})
	_, err := fpClient(t, p).Get(p.URL() + "/api/v1/pods")
	if !utilnet.IsConnectionReset(err) {
		t.Fatalf("got %v, want connection reset", err)
	}
	if u.hits.Load() != 0 || fpOutcomes(p, OutcomeReset) != 1 {
		t.Fatalf("upstream hits %d, stats %v", u.hits.Load(), p.Stats())
	}
}

func TestFaultProxyDelayAndMatch(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpOK))
	c := fpClient(t, p)
	do := func(ctx context.Context, method string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, p.URL()+"/api/v1/namespaces/a/pods", nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	const delay = 200 * time.Millisecond
	p.SetFaults(Faults{Match: IsWrite, MinDelay: delay, MaxDelay: 2 * delay})
	start := time.Now()
	if code, err := do(context.Background(), http.MethodPost); code != http.StatusOK || time.Since(start) < delay {
		t.Fatalf("POST: %d %v after %v, want 200 after at least %v", code, err, time.Since(start), delay)
	}

	// With writes delayed for an hour, a read still passes. (Ordering, not
	// timing, shows it: the machine may be slow.)
	p.SetFaults(Faults{Match: IsWrite, MinDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	posted := make(chan error, 1)
	go func() { _, err := do(ctx, http.MethodPost); posted <- err }()
	fpWaitFor(t, "the POST to arrive", func() bool { return len(p.Requests(start)) == 2 })
	if code, err := do(context.Background(), http.MethodGet); code != http.StatusOK {
		t.Fatalf("GET: %d %v", code, err)
	}
	select {
	case err := <-posted:
		t.Fatalf("the delayed POST returned: %v", err)
	default:
	}
	cancel()
	<-posted
}

func TestFaultProxySeededRates(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpOK))
	c := fpClient(t, p)
	run := func() []int {
		p.Seed(7)
		var codes []int
		for range 100 {
			resp, err := c.Get(p.URL() + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		return codes
	}
	p.SetFaults(Faults{ErrorRate: 0.3, TooManyRate: 0.2})
	first, second := run(), run()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatal("the same seed gave different faults")
	}
	count := map[int]int{}
	for _, c := range first {
		count[c]++
	}
	if count[500] < 15 || count[500] > 45 || count[429] < 8 || count[429] > 35 || count[200] < 30 {
		t.Fatalf("codes %v, want about 30%% 500s, 20%% 429s", count)
	}
}

func TestFaultProxyBlackhole(t *testing.T) {
	u := fpUpstream(t, fpOK)
	p := fpProxy(t, u)
	c := fpClient(t, p)
	p.SetFaults(Faults{Blackhole: true, Match: IsWrite})
	done := make(chan int, 1)
	go func() {
		resp, err := c.Post(p.URL()+"/api/v1/namespaces/a/pods", "text/plain", nil)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	fpWaitFor(t, "the POST to be held", func() bool { return fpOutcomes(p, OutcomeBlackholed) == 1 })
	// Reads still pass, the write stays held.
	resp, err := c.Get(p.URL() + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET during a write blackhole: %d", resp.StatusCode)
	}
	select {
	case code := <-done:
		t.Fatalf("the held POST returned %d", code)
	case <-time.After(200 * time.Millisecond):
	}
	p.SetFaults(Faults{})
	select {
	case code := <-done:
		if code != http.StatusOK || u.hits.Load() != 2 {
			t.Fatalf("after lifting: %d, upstream hits %d", code, u.hits.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the POST stayed held after the blackhole was lifted")
	}
}

func TestFaultProxyBlackholeStallsStreams(t *testing.T) {
	lines := make(chan string)
	p := fpProxy(t, fpUpstream(t, fpStreamer(lines)))
	resp, err := fpClient(t, p).Get(p.URL() + "/api/v1/pods?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := fpReadLines(resp.Body)
	lines <- "before"
	if g := <-got; g != "before" {
		t.Fatalf("got %q", g)
	}
	p.SetFaults(Faults{Blackhole: true})
	lines <- "during"
	select {
	case g := <-got:
		t.Fatalf("%q passed the blackhole", g)
	case <-time.After(200 * time.Millisecond):
	}
	p.SetFaults(Faults{})
	select {
	case g := <-got:
		if g != "during" {
			t.Fatalf("got %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed stalled after the blackhole was lifted")
	}
}

func TestFaultProxyRefuse(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpOK))
	c := fpClient(t, p)
	get := func() error {
		resp, err := c.Get(p.URL() + "/x")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil { // leaves an idle keep-alive connection
		t.Fatal(err)
	}
	p.SetFaults(Faults{Refuse: true})
	if err := get(); err == nil {
		t.Fatal("a request got through while refusing")
	}
	if fpOutcomes(p, OutcomeRefused) == 0 || len(p.Requests(time.Time{})) != 1 {
		t.Fatalf("stats %v, %d requests", p.Stats(), len(p.Requests(time.Time{})))
	}
	p.SetFaults(Faults{})
	if err := get(); err != nil {
		t.Fatalf("after refusing: %v", err)
	}
}

func TestFaultProxyDropConnections(t *testing.T) {
	lines := make(chan string)
	p := fpProxy(t, fpUpstream(t, fpStreamer(lines)))
	resp, err := fpClient(t, p).Get(p.URL() + "/api/v1/pods?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	_, errc := fpReadLines(resp.Body)
	p.DropConnections()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the stream ended cleanly, want a connection error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream survived DropConnections")
	}
}

func TestFaultProxyCutWatches(t *testing.T) {
	ended := make(chan struct{}, 1)
	p := fpProxy(t, fpUpstream(t, fpFakeAPI(ended)))
	w, err := fpClientset(t, p).CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := <-w.ResultChan(); ev.Type != "ADDED" {
		t.Fatalf("first event %v", ev)
	}
	p.CutWatches()
	select {
	case ev, open := <-w.ResultChan():
		if open {
			t.Fatalf("got %v, want the watch to end", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch survived CutWatches")
	}
	select {
	case <-ended: // the upstream watch was cancelled too
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream watch stayed open")
	}
	if fpOutcomes(p, OutcomeCut) != 1 {
		t.Fatalf("stats %v", p.Stats())
	}
}

func TestFaultProxyWatchMaxLifetime(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpFakeAPI(nil)))
	c := fpClient(t, p)
	type result struct {
		body string
		err  error
		took time.Duration
	}
	watchOnce := func() <-chan result {
		res := make(chan result, 1)
		start := time.Now()
		resp, err := c.Get(p.URL() + "/api/v1/pods?watch=1")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			body, err := io.ReadAll(resp.Body) // returns at the stream's end
			resp.Body.Close()
			res <- result{string(body), err, time.Since(start)}
		}()
		return res
	}
	const life = 300 * time.Millisecond
	before := watchOnce() // a lifetime set later ends it too
	p.SetFaults(Faults{WatchMaxLifetime: life})
	after := watchOnce()
	for _, res := range []<-chan result{before, after} {
		select {
		case r := <-res:
			if r.err != nil || !strings.Contains(r.body, "ADDED") || r.took < life {
				t.Fatalf("stream %q ended after %v with %v, want a clean end after %v", r.body, r.took, r.err, life)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a watch outlived WatchMaxLifetime")
		}
	}
	if fpOutcomes(p, OutcomeCut) != 2 {
		t.Fatalf("stats %v", p.Stats())
	}
}

func TestFaultProxyCountsAndRates(t *testing.T) {
	p := fpProxy(t, fpUpstream(t, fpOK))
	p.SetFaults(Faults{ErrorRate: 1, Match: func(r *http.Request) bool { return r.Method == http.MethodDelete }})
	c := fpClient(t, p)
	start := time.Now()
	for _, m := range []string{"GET", "GET", "PUT", "DELETE"} {
		req, _ := http.NewRequest(m, p.URL()+"/x", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s := p.Stats()
	if s.ByMethod["GET"] != 2 || s.ByMethod["PUT"] != 1 || s.ByMethod["DELETE"] != 1 ||
		s.ByOutcome[OutcomeForwarded] != 3 || s.ByOutcome[OutcomeError] != 1 {
		t.Fatalf("stats %v", s)
	}
	if n := len(p.Requests(start)); n != 4 {
		t.Fatalf("%d requests since the start, want 4", n)
	}
	if n := len(p.Requests(time.Now())); n != 0 {
		t.Fatalf("%d requests from now on, want 0", n)
	}
}

func TestFaultProxyPeakRate(t *testing.T) {
	t0 := time.Now()
	var reqs []Request
	for _, ms := range []int{0, 100, 900, 1000, 1050, 1099, 3000} {
		reqs = append(reqs, Request{Time: t0.Add(time.Duration(ms) * time.Millisecond)})
	}
	if got := PeakRate(reqs, time.Second); got != 5 { // 100..1099
		t.Fatalf("peak %d per second, want 5", got)
	}
	if got := PeakRate(nil, time.Second); got != 0 {
		t.Fatalf("peak of nothing %d", got)
	}
}

// fpGoroutines lists goroutines of the proxy, of its connections to the
// upstream, or of test clients' connections to it.
func fpGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "bed.(*FaultProxy)") || strings.Contains(g, "http2ClientConn") ||
			strings.Contains(g, "persistConn") || strings.Contains(g, "httputil") {
			found = append(found, g)
		}
	}
	return found
}

func TestFaultProxyCloseEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	ended := make(chan struct{}, 1)
	u := fpUpstream(t, fpFakeAPI(ended))
	p := fpProxy(t, u)
	c := fpClient(t, p)
	p.SetFaults(Faults{Blackhole: true, Match: IsWrite})

	resp, err := c.Get(p.URL() + "/api/v1/pods?watch=true") // hangs after one event
	if err != nil {
		t.Fatal(err)
	}
	lines, streamErr := fpReadLines(resp.Body)
	<-lines
	postErr := make(chan error, 1)
	go func() {
		resp, err := c.Post(p.URL()+"/api/v1/namespaces/a/pods", "text/plain", nil)
		if err == nil {
			resp.Body.Close()
		}
		postErr <- err
	}()
	fpWaitFor(t, "the POST to be held", func() bool { return fpOutcomes(p, OutcomeBlackholed) == 1 })

	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	for what, errc := range map[string]<-chan error{"stream": streamErr, "held POST": postErr} {
		select {
		case <-errc:
		case <-time.After(5 * time.Second):
			t.Fatalf("the %s survived Close", what)
		}
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream watch survived Close")
	}
	if _, err := c.Get(p.URL() + "/x"); err == nil {
		t.Fatal("the proxy answered after Close")
	}

	c.Transport.(*http.Transport).CloseIdleConnections()
	fpWaitFor(t, "the proxy's goroutines to end", func() bool { return len(fpGoroutines()) == 0 })
	u.Close()
	fpWaitFor(t, "the goroutine count to drop back", func() bool { return runtime.NumGoroutine() <= before })
}

func TestFaultProxyRejectsBadCA(t *testing.T) {
	target, _ := url.Parse("https://127.0.0.1:1")
	if _, err := NewFaultProxy(target, []byte("not a certificate")); err == nil {
		t.Fatal("want an error for a CA without certificates")
	}
}
