// Command daemonset-controller runs the DaemonSets of a Kubernetes cluster in
// place of kube-controller-manager's built-in DaemonSet controller.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
	"k8s.io/klog/v2"

	"github.com/daemonset-controller/daemonset-controller/pkg/controller"
)

const name = "daemonset-controller"

type options struct {
	kubeconfig    string
	master        string
	workers       int
	qps           float64
	burst         int
	burstReplicas int
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fail(err)
	}
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
	fs.IntVar(&o.burstReplicas, "burst-replicas", 250, "Most pods created, and most deleted, for one DaemonSet in one sync.")
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
	case o.burstReplicas < 1:
		return o, fmt.Errorf("--burst-replicas must be at least 1, got %d", o.burstReplicas)
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
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
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
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := waitForServer(ctx, cfg, 20*time.Second); err != nil {
		return err
	}
	logger := klog.FromContext(ctx)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: name})

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controller.StripManagedFields))
	ctrl, err := controller.New(client, factory, recorder, controller.Options{BurstReplicas: o.burstReplicas})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	logger.Info("Starting", "server", cfg.Host, "workers", o.workers)
	if err := ctrl.Run(ctx, o.workers); err != nil && ctx.Err() == nil {
		return err
	}
	logger.Info("Stopped")
	return nil
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
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("the API server at %s refused our credentials: %v", cfg.Host, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cannot reach the API server at %s: %v", cfg.Host, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
