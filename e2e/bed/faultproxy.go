package bed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FaultProxy sits between a client (the controller) and kube-apiserver and
// injects faults: errors, throttling, resets, latency, partitions, cut
// watches. It forwards requests unchanged, Authorization included, so the
// apiserver sees the client's own identity.
//
// It serves HTTPS on loopback with a self-signed certificate (CAPEM): over
// plain http, clientcmd drops a kubeconfig's credentials. It offers clients
// HTTP/1.1 only, so each connection carries one request at a time and a
// reset hits exactly that request; towards the apiserver it speaks HTTP/2
// or 1.1 over TLS, trusting the given CA. It keeps a record of every
// request, for tests to read rates from.
type FaultProxy struct {
	transport *http.Transport
	rp        *httputil.ReverseProxy
	srv       *http.Server
	ln        net.Listener
	caPEM     []byte        // the proxy's own certificate
	served    chan struct{} // closed when srv.ServeTLS returns

	state atomic.Pointer[faultState]
	// ctx ends with Close; every request's context derives from it, so
	// Close cancels delays, blackholes and upstream calls alike.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	handlers  sync.WaitGroup // running serve calls, waited for by Close
	rng       *rand.Rand
	conns     map[net.Conn]struct{} // open client connections
	upConns   map[*upstreamConn]struct{}
	watches   map[*watch]struct{} // watch requests being forwarded
	requests  []Request           // every request seen, in arrival order
	byMethod  map[string]int
	byOutcome map[Outcome]int
	closeOnce sync.Once
}

// Faults say what the proxy does to requests. The zero value forwards all.
type Faults struct {
	// Match picks the requests the faults apply to; nil means all. It is
	// called concurrently. IsWrite and IsWatch are ready-made matchers.
	Match func(*http.Request) bool

	// ErrorRate, TooManyRate and ResetRate are the fractions of matching
	// requests answered 500, answered 429, or reset without an answer.
	// One random draw decides among them, so they add up (to at most 1).
	ErrorRate, TooManyRate, ResetRate float64
	// RetryAfterSeconds is the 429s' Retry-After; 1 when zero.
	RetryAfterSeconds int

	// MinDelay and MaxDelay bound the uniformly random latency added to a
	// matching request before it is answered or forwarded.
	MinDelay, MaxDelay time.Duration

	// Blackhole holds matching requests without an answer, and stalls the
	// responses already streaming to them (watches), until the faults
	// change or the proxy closes: a network partition.
	Blackhole bool

	// Refuse resets every open client connection when set, and every new
	// one as soon as it is accepted, as if the apiserver were down. Clients
	// see "connection reset by peer", not "connection refused": closing the
	// listening socket would let another process take the port meanwhile.
	// Match does not apply.
	Refuse bool

	// WatchMaxLifetime, when set, ends each matching watch that long after
	// it started, as CutWatches does; watches already open included.
	WatchMaxLifetime time.Duration
}

func (f *Faults) matches(r *http.Request) bool { return f.Match == nil || f.Match(r) }

// faultState is one setting of the faults; changed is closed when it is
// replaced, which wakes the requests a blackhole holds.
type faultState struct {
	faults  Faults
	changed chan struct{}
}

// Outcome names what happened to a request, for Stats.
type Outcome string

// Outcomes are events: a request held by a blackhole counts as Blackholed
// and, when released, once more for what happens next; a forwarded watch
// that is cut counts as Forwarded and Cut.
const (
	OutcomeForwarded  Outcome = "forwarded"
	OutcomeError      Outcome = "500"
	OutcomeTooMany    Outcome = "429"
	OutcomeReset      Outcome = "reset"
	OutcomeBlackholed Outcome = "blackholed"
	OutcomeCut        Outcome = "cut"        // a watch ended by CutWatches or WatchMaxLifetime
	OutcomeRefused    Outcome = "refused"    // a connection reset by Refuse (not a request)
	OutcomeBadGateway Outcome = "badgateway" // the upstream call failed
)

// Request records one request the proxy saw.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Watch  bool
}

// ProxyStats count the requests seen by HTTP method, and the outcomes.
type ProxyStats struct {
	ByMethod  map[string]int
	ByOutcome map[Outcome]int
}

// NewFaultProxy starts a proxy to upstream (the apiserver's https URL),
// trusting the certificates in caPEM, with no faults.
func NewFaultProxy(upstream *url.URL, caPEM []byte) (*FaultProxy, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("fault proxy: no certificate in caPEM")
	}
	cert, certPEM, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{
		ln: ln, caPEM: certPEM, served: make(chan struct{}),
		rng:   rand.New(rand.NewPCG(1, 1)),
		conns: map[net.Conn]struct{}{}, upConns: map[*upstreamConn]struct{}{}, watches: map[*watch]struct{}{},
		byMethod: map[string]int{}, byOutcome: map[Outcome]int{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.state.Store(&faultState{changed: make(chan struct{})})
	p.transport = p.upstreamTransport(pool)
	quiet := log.New(io.Discard, "", 0) // injected faults make expected noise
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
		Transport:      p.transport,
		FlushInterval:  -1, // watch events must reach the client at once
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       quiet,
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(p.serve), ConnState: p.trackConn, ErrorLog: quiet,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
		// A non-nil empty map turns HTTP/2 off: one request per connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() {
		defer close(p.served)
		_ = p.srv.ServeTLS(ln, "", "")
	}()
	return p, nil
}

func (p *FaultProxy) upstreamTransport(pool *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.dialUpstream
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = true // many watches share a few connections
	t.MaxIdleConnsPerHost = 100
	return t
}

// dialUpstream dials the apiserver and keeps the connection in upConns,
// so Close can end it: CloseIdleConnections misses HTTP/2 connections
// whose streams are still winding down.
func (p *FaultProxy) dialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	uc := &upstreamConn{Conn: c, p: p}
	p.upConns[uc] = struct{}{}
	return uc, nil
}

// upstreamConn is a connection to the apiserver that leaves upConns when
// closed.
type upstreamConn struct {
	net.Conn
	p    *FaultProxy
	once sync.Once
}

func (c *upstreamConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.upConns, c)
		c.p.mu.Unlock()
	})
	return c.Conn.Close()
}

// URL is the proxy's address, e.g. https://127.0.0.1:34567.
func (p *FaultProxy) URL() string { return "https://" + p.ln.Addr().String() }

// CAPEM is the proxy's self-signed certificate, for clients to trust.
func (p *FaultProxy) CAPEM() []byte { return p.caPEM }

// selfSignedCert makes the proxy's certificate for 127.0.0.1.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fault-proxy"},
		NotBefore: now, NotAfter: now.Add(10 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// SetFaults replaces the faults; requests held by a blackhole are
// re-judged under the new ones.
func (p *FaultProxy) SetFaults(f Faults) {
	old := p.state.Swap(&faultState{faults: f, changed: make(chan struct{})})
	close(old.changed)
	if f.Refuse {
		p.DropConnections()
	}
	for _, w := range p.openWatches() {
		p.armWatch(w)
	}
}

// Faults returns the faults in force.
func (p *FaultProxy) Faults() Faults { return p.state.Load().faults }

// Seed restarts the random choices (fault draws, delays) from seed, so a
// sequential run of requests meets the same faults every time. Proxies
// start with seed 1.
func (p *FaultProxy) Seed(seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rng = rand.New(rand.NewPCG(seed, seed))
}

// CutWatches ends every watch being forwarded now. Each ends the way
// kube-apiserver ends a watch at its timeout: a clean end of the response,
// so clients re-watch; the upstream watch is cancelled.
func (p *FaultProxy) CutWatches() {
	for _, w := range p.openWatches() {
		p.cut(w)
	}
}

func (p *FaultProxy) openWatches() []*watch {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*watch, 0, len(p.watches))
	for w := range p.watches {
		ws = append(ws, w)
	}
	return ws
}

// DropConnections resets every open client connection now (RST), as a
// crashing apiserver or a broken network path would; requests and watches
// on them fail with a connection error.
func (p *FaultProxy) DropConnections() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		resetConn(c)
	}
}

// Close stops the proxy: it closes the listener and every connection,
// streaming or held ones included, and returns once every request handler
// and upstream call has ended.
func (p *FaultProxy) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cancel()
		// Resetting first keeps Close prompt: a TLS close first sends
		// close_notify, which waits while a client is not reading.
		p.DropConnections()
		_ = p.srv.Close()
		p.handlers.Wait()
		<-p.served
		p.closeUpstream()
	})
}

// closeUpstream closes every connection to the apiserver.
func (p *FaultProxy) closeUpstream() {
	p.transport.CloseIdleConnections()
	p.mu.Lock()
	conns := make([]*upstreamConn, 0, len(p.upConns))
	for c := range p.upConns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Stats returns the counts so far.
func (p *FaultProxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ProxyStats{ByMethod: map[string]int{}, ByOutcome: map[Outcome]int{}}
	for k, v := range p.byMethod {
		s.ByMethod[k] = v
	}
	for k, v := range p.byOutcome {
		s.ByOutcome[k] = v
	}
	return s
}

// Requests returns the requests that arrived at or after since, oldest
// first; len() of it over a window is the request rate.
func (p *FaultProxy) Requests(since time.Time) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.requests), func(i int) bool { return !p.requests[i].Time.Before(since) })
	return append([]Request(nil), p.requests[i:]...)
}

// PeakRate returns the most requests of reqs (in arrival order) that fall
// within any one window, e.g. the worst burst per second.
func PeakRate(reqs []Request, window time.Duration) int {
	peak, lo := 0, 0
	for hi := range reqs {
		for reqs[hi].Time.Sub(reqs[lo].Time) >= window {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

// IsWatch reports whether r is a watch request.
func IsWatch(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	// The apiserver's own reading of ?watch=, plus the legacy /watch/ paths.
	v := strings.ToLower(r.URL.Query().Get("watch"))
	return v == "true" || v == "1" || strings.Contains(r.URL.Path, "/watch/")
}

// IsWrite reports whether r may change state (not GET, HEAD or OPTIONS).
func IsWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// WriteKubeconfig writes a kubeconfig at path that reaches the apiserver
// through the proxy with the bearer token, e.g. one from TokenKubeconfig.
func (p *FaultProxy) WriteKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fault-proxy"] = &clientcmdapi.Cluster{Server: p.URL(), CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["fault-proxy"] = &clientcmdapi.Context{Cluster: "fault-proxy", AuthInfo: "user"}
	cfg.CurrentContext = "fault-proxy"
	return clientcmd.WriteToFile(*cfg, path)
}

// StartFaultProxy starts a FaultProxy in front of the bed's apiserver.
func (b *Bed) StartFaultProxy() (*FaultProxy, error) {
	u, err := url.Parse(b.Config.Host)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(b.CAFile)
	if err != nil {
		return nil, err
	}
	return NewFaultProxy(u, ca)
}

// serve handles one request: record it, let a blackhole hold it, delay
// it, then answer with a fault or forward it.
func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		panic(http.ErrAbortHandler) // closing: drop the connection
	}
	defer p.handlers.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()
	r = r.WithContext(ctx)
	p.record(r)

	f, ok := p.hold(r, func() { p.count(OutcomeBlackholed) })
	if ok && f.matches(r) {
		ok = sleep(ctx, p.delay(f))
	}
	if !ok {
		// Closing, or the client gave up: an abort sends no response,
		// where returning would send an empty 200.
		panic(http.ErrAbortHandler)
	}
	if !f.matches(r) {
		p.forward(w, r)
		return
	}
	switch p.draw(f) {
	case OutcomeReset:
		p.count(OutcomeReset)
		reset(w)
	case OutcomeError:
		p.count(OutcomeError)
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"fault proxy: injected internal error", 0)
	case OutcomeTooMany:
		p.count(OutcomeTooMany)
		writeStatus(w, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests,
			"fault proxy: injected throttling", max(f.RetryAfterSeconds, 1))
	default:
		p.forward(w, r)
	}
}

// enter registers a handler unless the proxy is closing; under the lock,
// so no handler starts once Close waits for them.
func (p *FaultProxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.handlers.Add(1)
	return true
}

func (p *FaultProxy) record(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The time is taken under the lock, so p.requests stays sorted.
	p.requests = append(p.requests, Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Watch: IsWatch(r)})
	p.byMethod[r.Method]++
}

func (p *FaultProxy) count(o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byOutcome[o]++
}

// hold waits while a blackhole covers r, calling onHold once if it does.
// It returns the faults then in force, or false if r's context ends first
// (the client left, or the proxy closed).
func (p *FaultProxy) hold(r *http.Request, onHold func()) (Faults, bool) {
	for {
		s := p.state.Load()
		if !s.faults.Blackhole || !s.faults.matches(r) {
			return s.faults, true
		}
		if onHold != nil {
			onHold()
			onHold = nil
		}
		select {
		case <-s.changed:
		case <-r.Context().Done():
			return Faults{}, false
		}
	}
}

func (p *FaultProxy) delay(f Faults) time.Duration {
	if f.MaxDelay <= f.MinDelay {
		return f.MinDelay
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return f.MinDelay + time.Duration(p.rng.Int64N(int64(f.MaxDelay-f.MinDelay)+1))
}

// draw picks what to do with a matching request.
func (p *FaultProxy) draw(f Faults) Outcome {
	p.mu.Lock()
	u := p.rng.Float64()
	p.mu.Unlock()
	switch {
	case u < f.ResetRate:
		return OutcomeReset
	case u < f.ResetRate+f.ErrorRate:
		return OutcomeError
	case u < f.ResetRate+f.ErrorRate+f.TooManyRate:
		return OutcomeTooMany
	}
	return OutcomeForwarded
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// forward passes r to the apiserver; the response goes through a
// stallWriter, so a blackhole set later also stops it midway.
func (p *FaultProxy) forward(w http.ResponseWriter, r *http.Request) {
	p.count(OutcomeForwarded)
	if IsWatch(r) {
		var done func()
		r, done = p.startWatch(r)
		defer done()
	}
	p.rp.ServeHTTP(&stallWriter{ResponseWriter: w, p: p, r: r}, r)
}

// watch is a watch request being forwarded, which CutWatches can end.
type watch struct {
	r      *http.Request
	start  time.Time
	cancel context.CancelFunc // cancels the upstream call
	cut    atomic.Bool

	mu    sync.Mutex
	timer *time.Timer // ends the watch at WatchMaxLifetime
	ended bool
}

type watchKey struct{}

// startWatch registers r as a watch and returns it with a context that
// cutting cancels, and the function that unregisters it.
func (p *FaultProxy) startWatch(r *http.Request) (*http.Request, func()) {
	ctx, cancel := context.WithCancel(r.Context())
	w := &watch{r: r, start: time.Now(), cancel: cancel}
	p.mu.Lock()
	p.watches[w] = struct{}{}
	p.mu.Unlock()
	p.armWatch(w)
	return r.WithContext(context.WithValue(ctx, watchKey{}, w)), func() {
		w.mu.Lock()
		w.ended = true
		if w.timer != nil {
			w.timer.Stop()
		}
		w.mu.Unlock()
		cancel()
		p.mu.Lock()
		delete(p.watches, w)
		p.mu.Unlock()
	}
}

// armWatch (re)sets w's lifetime from the faults in force, counted from
// its start: a lifetime set later also ends the watches already open.
func (p *FaultProxy) armWatch(w *watch) {
	f := p.Faults()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.ended || f.WatchMaxLifetime <= 0 || !f.matches(w.r) {
		return
	}
	w.timer = time.AfterFunc(time.Until(w.start.Add(f.WatchMaxLifetime)), func() { p.cut(w) })
}

func (p *FaultProxy) cut(w *watch) {
	if w.cut.CompareAndSwap(false, true) {
		p.count(OutcomeCut)
		w.cancel()
	}
}

// modifyResponse lets a cut watch end cleanly: its body reports EOF, not
// the cancellation, so the proxy finishes the response instead of
// aborting the connection.
func (p *FaultProxy) modifyResponse(res *http.Response) error {
	if w, ok := res.Request.Context().Value(watchKey{}).(*watch); ok {
		res.Body = &cutBody{ReadCloser: res.Body, w: w}
	}
	return nil
}

type cutBody struct {
	io.ReadCloser
	w *watch
}

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.w.cut.Load() {
		err = io.EOF
	}
	return n, err
}

// upstreamError answers a failed upstream call with a 502 Status, unless
// the call was cancelled on our side (cut, client gone, closing): then the
// connection is dropped.
func (p *FaultProxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		panic(http.ErrAbortHandler)
	}
	p.count(OutcomeBadGateway)
	writeStatus(w, http.StatusBadGateway, metav1.StatusReasonServiceUnavailable, "fault proxy: "+err.Error(), 0)
}

// stallWriter holds a response's writes while a blackhole covers its
// request.
type stallWriter struct {
	http.ResponseWriter
	p *FaultProxy
	r *http.Request
}

func (s *stallWriter) WriteHeader(code int) {
	s.p.hold(s.r, nil)
	s.ResponseWriter.WriteHeader(code)
}

func (s *stallWriter) Write(b []byte) (int, error) {
	if _, ok := s.p.hold(s.r, nil); !ok {
		return 0, s.r.Context().Err()
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// trackConn keeps the set of open client connections for DropConnections,
// and resets new ones while Refuse is set. Checking Refuse under the lock
// leaves no gap with SetFaults: a connection is either seen by it or sees
// Refuse here.
func (p *FaultProxy) trackConn(c net.Conn, state http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch state {
	case http.StateNew:
		if p.state.Load().faults.Refuse {
			p.byOutcome[OutcomeRefused]++
			resetConn(c)
			return
		}
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// reset closes the request's connection with an RST and no response.
func reset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not hijackable: at least drop it
	}
	resetConn(c)
}

// resetConn closes c with an RST rather than a FIN, so the peer reads
// "connection reset by peer". It closes the TCP connection under TLS
// directly: a TLS close would first send close_notify, a clean end.
func resetConn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// writeStatus answers with a Kubernetes Status, as the apiserver does, so
// clients decode it into the matching API error.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string, retryAfter int) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	}
	if retryAfter > 0 {
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(retryAfter)}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	body, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
