// Command daemonset-controller runs the DaemonSets of a Kubernetes cluster in
// place of kube-controller-manager's built-in DaemonSet controller.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/controller"
	"github.com/daemonset-controller/daemonset-controller/pkg/eventlimit"
	"github.com/daemonset-controller/daemonset-controller/pkg/metrics"
	"github.com/daemonset-controller/daemonset-controller/pkg/prioritylimit"
	"github.com/daemonset-controller/daemonset-controller/pkg/procs"
	"github.com/daemonset-controller/daemonset-controller/pkg/wiretrim"
)

const name = "daemonset-controller"

const (
	protobuf = "application/vnd.kubernetes.protobuf"
	jsonType = "application/json"
)

type options struct {
	kubeconfig    string
	master        string
	workers       int
	qps           float64
	burst         int
	contentType   string
	burstReplicas int
	statusEvery   time.Duration

	metricsAddr     string
	metricsInsecure bool
	tlsCertFile     string
	tlsKeyFile      string
	healthAddr      string

	leaderElect   bool
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	leaseName     string
	leaseNS       string

	shadow    bool
	profiling bool
}

func main() {
	widenTimerSlack()
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	followLoadUnlessSet(ctx)
	if err := run(ctx, opts); err != nil && !errors.Is(err, context.Canceled) {
		fail(err)
	}
}

// followLoadUnlessSet runs the controller on one P, and on more only while
// a burst keeps one busy (pkg/procs), unless the GOMAXPROCS environment
// variable fixes the number. The most Ps is the runtime's own default at
// start: the CPUs, or the container's CPU limit rounded up (but at least
// two, as the runtime keeps it).
func followLoadUnlessSet(ctx context.Context) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	p := procs.Default
	p.Max = runtime.GOMAXPROCS(0)
	procs.Start(ctx, p)
}

// fail prints one line and exits non-zero: errors a user causes (bad flags,
// missing kubeconfig, unreachable API server) must read as one clear line.
func fail(err error) {
	klog.Flush()
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	klog.InitFlags(fs)
	var o options
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig. Defaults to $KUBECONFIG, then to the in-cluster config.")
	fs.StringVar(&o.master, "master", "", "The address of the Kubernetes API server. Overrides the server in the kubeconfig.")
	fs.IntVar(&o.workers, "workers", 4, "Number of DaemonSets synced concurrently.")
	fs.Float64Var(&o.qps, "kube-api-qps", 20, "Steady queries per second to the API server.")
	fs.IntVar(&o.burst, "kube-api-burst", 30, "Burst of queries to the API server above --kube-api-qps.")
	fs.StringVar(&o.contentType, "kube-api-content-type", protobuf, "Encoding of requests to, and watch events from, the API server: "+protobuf+" (the default, as in kube-controller-manager: cheaper to decode) or "+jsonType+".")
	fs.IntVar(&o.burstReplicas, "burst-replicas", 250, "Most pods created, and most deleted, for one DaemonSet in one sync.")
	fs.DurationVar(&o.statusEvery, "status-interval", 250*time.Millisecond, "Least time between two status writes of one DaemonSet that only report pods' progress (a new desired count or generation is written at once); 0 writes every change.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":10260", "Address of the /metrics endpoint (HTTPS, authenticated and authorised by the API server); 0 turns it off.")
	fs.BoolVar(&o.metricsInsecure, "metrics-insecure", false, "Serve /metrics over plain HTTP without authentication, for local use.")
	fs.StringVar(&o.tlsCertFile, "tls-cert-file", "", "Serving certificate for /metrics; a self-signed one when empty.")
	fs.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "Private key of --tls-cert-file.")
	fs.StringVar(&o.healthAddr, "health-probe-bind-address", ":10261", "Address of /healthz and /readyz (plain HTTP); 0 turns it off.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader through a Lease before writing, so several replicas can run.")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long standbys wait before taking over an unrenewed lease.")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up leading.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew the lease.")
	fs.StringVar(&o.leaseName, "leader-elect-resource-name", "daemonset-controller", "Name of the Lease used for leader election.")
	fs.StringVar(&o.leaseNS, "leader-elect-resource-namespace", "kube-system", "Namespace of the Lease used for leader election.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve pprof under /debug/pprof/ on the health endpoint.")
	fs.BoolVar(&o.shadow, "shadow", false, "Compute every plan but write nothing (no pods, revisions, status, events or lease): report what would be done on /debug/plan and in metrics.")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.workers < 1:
		return o, fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	case o.qps <= 0:
		return o, fmt.Errorf("--kube-api-qps must be positive, got %v", o.qps)
	case o.burst < 1:
		return o, fmt.Errorf("--kube-api-burst must be at least 1, got %d", o.burst)
	case o.contentType != protobuf && o.contentType != jsonType:
		return o, fmt.Errorf("--kube-api-content-type must be %s or %s, got %q", protobuf, jsonType, o.contentType)
	case o.burstReplicas < 1:
		return o, fmt.Errorf("--burst-replicas must be at least 1, got %d", o.burstReplicas)
	case o.statusEvery < 0:
		return o, fmt.Errorf("--status-interval must not be negative, got %v", o.statusEvery)
	case o.leaderElect && !o.shadow && (o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0):
		return o, fmt.Errorf("leader election needs lease duration > renew deadline > retry period > 0, got %v, %v, %v",
			o.leaseDuration, o.renewDeadline, o.retryPeriod)
	}
	return o, nil
}

// restConfig picks the cluster: --kubeconfig, else $KUBECONFIG, else
// --master alone, else the in-cluster service account.
func restConfig(o options) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{}
	switch {
	case o.kubeconfig != "":
		if _, err := os.Stat(o.kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, errors.Unwrap(err))
		}
		rules.ExplicitPath = o.kubeconfig
	case os.Getenv("KUBECONFIG") != "":
		rules.Precedence = filepath.SplitList(os.Getenv("KUBECONFIG"))
	case o.master != "":
	default:
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig or $KUBECONFIG given and not running in a cluster: %w", err)
		}
		return cfg, nil
	}
	overrides := &clientcmd.ConfigOverrides{}
	overrides.ClusterInfo.Server = o.master
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		where := o.kubeconfig
		if where == "" {
			where = os.Getenv("KUBECONFIG")
		}
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("loading kubeconfig %s: it names no cluster (no current-context) and no --master is given", where)
		}
		return nil, fmt.Errorf("loading kubeconfig %s: %w", where, err)
	}
	return cfg, nil
}

func run(ctx context.Context, o options) error {
	cfg, err := restConfig(o)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	cfg.UserAgent = name
	// No gzip, as in kube-controller-manager and kube-scheduler: between a
	// controller and its API server compression costs both ends more CPU
	// than it saves in time (kubernetes/kubernetes#80919). A profile of a
	// 3,000-node rollout had 12% of our CPU in decompressing watch frames.
	cfg.DisableCompression = true
	// Every type we read or write is built in, so protobuf always applies;
	// JSON stays acceptable for the API server's (and proxies') own Status
	// answers.
	cfg.ContentType = o.contentType
	cfg.AcceptContentTypes = o.contentType
	if o.contentType == protobuf {
		cfg.AcceptContentTypes += "," + jsonType
	}
	m := metrics.New(nil)
	m.RegisterClientGo() // before the first client is made
	// Every client reports the API server's refusals (401, 403) to m.
	cfg.Wrap(m.WrapTransport)
	// Leader election and the informers get clients of their own, as in
	// kube-controller-manager: lease renewals and relists never queue
	// behind a burst of pod creations.
	electionCfg := rest.CopyConfig(cfg)
	electionCfg.UserAgent = name + "/leader-election"
	informerCfg := rest.CopyConfig(cfg)
	informerCfg.UserAgent = name + "/shared-informers"
	watchOverHTTP1(informerCfg)
	// The controller's own client serves the requests of the most urgent
	// DaemonSets first (see pkg/prioritylimit); the rate stays --kube-api-qps.
	// Stopping the limiter fails every request still to be sent: that is
	// how a leader that lost its lease stops writing at once.
	limiter := prioritylimit.New(cfg.QPS, cfg.Burst)
	defer limiter.Stop()
	limitRequests(cfg, limiter, m.ObserveRateLimiter)
	client, err := newClient(cfg)
	if err != nil {
		return err
	}
	informerClient, err := newClient(informerCfg)
	if err != nil {
		return err
	}
	if err := waitForServer(ctx, cfg, 20*time.Second); err != nil {
		return err
	}
	logger := klog.FromContext(ctx)

	gate := prioritylimit.NewGate()
	recorder, stopEvents := eventRecorder(ctx, client, o.shadow, gate)
	defer stopEvents()
	factory := informers.NewSharedInformerFactoryWithOptions(informerClient, 0, informers.WithTransform(controller.Slim))
	ctrl, err := controller.New(client, factory, recorder, controller.Options{
		BurstReplicas: o.burstReplicas, Metrics: m, Shadow: o.shadow, StatusInterval: o.statusEvery,
		ClientBusy: limiter.Short, Gate: gate,
	})
	if err != nil {
		return err
	}
	m.SetPending(ctrl.Pending)
	var el *elector
	if o.leaderElect && !o.shadow {
		electionClient, err := kubernetes.NewForConfig(electionCfg)
		if err != nil {
			return err
		}
		if el, err = newElector(electionClient, o, m, limiter.Stop); err != nil {
			return err
		}
	}
	servers, err := listen(o, client, ctrl, m, el)
	if err != nil {
		return err
	}
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	for _, s := range servers {
		go s.Serve(serveCtx)
	}
	// The informers stop whenever run returns, not only on a signal:
	// Shutdown waits for them, so a leader that lost its lease would
	// otherwise never exit.
	informerCtx, stopInformers := context.WithCancel(ctx)
	factory.Start(informerCtx.Done())
	defer func() {
		stopInformers()
		factory.Shutdown()
	}()
	logger.Info("Starting", "server", cfg.Host, "workers", o.workers, "leaderElect", el != nil, "shadow", o.shadow)
	if el == nil {
		if !o.shadow {
			m.Leader.Set(1)
		}
		return ctrl.Run(ctx, o.workers)
	}
	err = el.lead(ctx, func(ctx context.Context) error { return ctrl.Run(ctx, o.workers) })
	if errors.Is(err, errLostLease) && m.CredentialsRejected() {
		err = fmt.Errorf("the API server rejected our credentials (401 Unauthorized), so the lease could not be renewed: %w", err)
	}
	return err
}

// watchOverHTTP1 makes the clients made from cfg speak HTTP/1.1, each
// watch on a connection of its own, for the informers. Over HTTP/2 every
// watch event passes through the connection's reader goroutine and costs a
// flow-control write back to the API server; over HTTP/1.1 the watch's own
// goroutine reads it off the socket. In a 3,000-node rollout that cut a
// quarter of the CPU of the threads that run Go code (docs/benchmarks). The
// controller's writes stay on HTTP/2, whose one connection carries any
// number of concurrent creations without a TLS handshake each.
//
// HTTP/2 pings find a dead connection in 45 s (client-go: 30 s quiet, then
// 15 s for the answer). Here TCP keepalive does it in the same time (30 s
// quiet, then three probes 5 s apart), where client-go's own dialer would
// take five minutes (nine probes 30 s apart): a watch whose API server
// vanished without a word ends, and the informer lists again.
func watchOverHTTP1(cfg *rest.Config) {
	cfg.TLSClientConfig.NextProtos = []string{"http/1.1"}
	cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3,
	}}).DialContext
}

// limitRequests makes every request of the clients made from cfg wait for
// l in their transport (see prioritylimit.Limiter.Transport); QPS -1 keeps
// client-go from adding a limiter of its own.
func limitRequests(cfg *rest.Config, l *prioritylimit.Limiter, observe func(method string, waited time.Duration)) {
	cfg.Wrap(l.Transport(observe))
	cfg.QPS, cfg.RateLimiter = -1, nil
}

// newClient is a clientset whose core/v1 client, over protobuf, trims pods
// and nodes as they arrive (see pkg/wiretrim): decoding them is most of
// the controller's CPU in a large rollout. The informers' caches hold
// only the fields the controller reads; of the pods and nodes its own
// requests return it reads nothing but a created pod's name.
func newClient(cfg *rest.Config) (kubernetes.Interface, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		// One limit for all the informers' requests, as one clientset has.
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	client, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil || cfg.ContentType != protobuf {
		return client, err
	}
	core := rest.CopyConfig(cfg)
	gv := v1.SchemeGroupVersion
	core.GroupVersion, core.APIPath = &gv, "/api"
	core.NegotiatedSerializer = wiretrim.Codecs(rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion())
	rc, err := rest.RESTClientForConfigAndClient(core, httpClient)
	if err != nil {
		return nil, err
	}
	return trimmedCore{Clientset: client, core: typedcorev1.New(rc)}, nil
}

// trimmedCore is a clientset whose core/v1 client trims what it decodes.
type trimmedCore struct {
	*kubernetes.Clientset
	core typedcorev1.CoreV1Interface
}

func (c trimmedCore) CoreV1() typedcorev1.CoreV1Interface { return c.core }

// eventRecorder records events to the API server, after the pod creations
// under way (see afterCreations); in shadow mode it drops them, since
// shadow writes nothing.
func eventRecorder(ctx context.Context, client kubernetes.Interface, shadow bool, creating *prioritylimit.Gate) (record.EventRecorder, func()) {
	if shadow {
		return &record.FakeRecorder{}, func() {}
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	sink := &typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")}
	broadcaster.StartRecordingToSink(afterCreations{EventSink: sink, ctx: ctx, creating: creating, maxHold: maxEventHold})
	// The events the correlator's spam filter would drop are dropped
	// first, before it spends an aggregation and a JSON patch on each.
	return eventlimit.New(broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: name})), broadcaster.Shutdown
}

// afterCreations is an event sink that holds writes while pod creations
// are under way (the syncs hold creating), until maxHold after they began.
// Events are for people; pods are for nodes. A rollout's SuccessfulCreate
// events (25 pass the spam filter: creations and patches of the combined
// event) would otherwise share the API server, and the client's rate
// limit, with the creations that they report: a quarter more writes in a
// 100-node rollout. The bound is per busy period, not per event: the
// broadcaster writes one event at a time, and while creations go on for
// minutes, events held a second each would fall behind and be dropped.
type afterCreations struct {
	record.EventSink
	ctx      context.Context
	creating *prioritylimit.Gate
	maxHold  time.Duration
}

// maxEventHold bounds how long events wait for creations to end, counted
// from when the creations began.
const maxEventHold = time.Second

func (s afterCreations) wait() {
	since, busy := s.creating.BusySince()
	if left := s.maxHold - time.Since(since); busy && left > 0 {
		ctx, cancel := context.WithTimeout(s.ctx, left)
		defer cancel()
		s.creating.Wait(ctx, math.MinInt64) // any creation holds it
	}
}

func (s afterCreations) Create(e *v1.Event) (*v1.Event, error) {
	s.wait()
	return s.EventSink.Create(e)
}

func (s afterCreations) Update(e *v1.Event) (*v1.Event, error) {
	s.wait()
	return s.EventSink.Update(e)
}

func (s afterCreations) Patch(e *v1.Event, data []byte) (*v1.Event, error) {
	s.wait()
	return s.EventSink.Patch(e, data)
}

// waitForServer checks that the API server answers and accepts our
// credentials, retrying briefly so a controller started alongside its API
// server does not fail, but never hanging.
func waitForServer(ctx context.Context, cfg *rest.Config, within time.Duration) error {
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 5 * time.Second
	dc, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for {
		_, err := dc.Discovery().ServerVersion()
		if err == nil {
			return nil
		}
		var badCert *tls.CertificateVerificationError
		switch {
		case apierrors.IsUnauthorized(err):
			return fmt.Errorf("the API server at %s rejected our credentials (401 Unauthorized): check the token or client certificate of the kubeconfig, or the ServiceAccount", cfg.Host)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("the API server at %s accepted our credentials but forbids reading its version (403 Forbidden): %v", cfg.Host, err)
		case errors.As(err, &badCert):
			// A certificate does not become trusted by waiting.
			return fmt.Errorf("the API server at %s presented a certificate the kubeconfig does not trust (check its certificate-authority): %v", cfg.Host, badCert.Err)
		}
		if ctx.Err() != nil {
			return ctx.Err() // a signal during startup is a clean stop
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot reach the API server at %s: %v", cfg.Host, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
