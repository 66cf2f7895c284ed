// Command demo shows the controller at work: it starts the local control
// plane with four kwok nodes (one a tainted control-plane node), runs the
// controller out of cluster, applies the seed's fluentd-elasticsearch
// DaemonSet and prints `kubectl get ds,pods -o wide` until every node runs
// its pod. It stops everything on exit, Ctrl-C included.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context) error {
	b, err := bed.Start(ctx, bed.Options{Log: say})
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the controller and the control plane")
		b.Stop()
		os.RemoveAll(b.Dir)
	}()
	nodes := map[string]bed.NodeOptions{
		"demo-control-plane": {
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints: []v1.Taint{{Key: "node-role.kubernetes.io/master", Effect: v1.TaintEffectNoSchedule}},
		},
		"demo-worker-1": {}, "demo-worker-2": {}, "demo-worker-3": {},
	}
	var names []string
	for n, o := range nodes {
		names = append(names, n)
		if err := b.CreateNode(ctx, n, o); err != nil {
			return err
		}
	}
	if err := b.WaitNodesReady(ctx, 2*time.Minute, names...); err != nil {
		return err
	}
	if err := kubectl(ctx, b, "get", "nodes", "-o", "wide"); err != nil {
		return err
	}
	say("building and starting daemonset-controller (log: %s)", filepath.Join(b.Dir, "daemonset-controller.log"))
	bin, err := b.BuildController(ctx)
	if err != nil {
		return err
	}
	ctrl, err := b.StartController(bin, "daemonset-controller", b.Kubeconfig, "-v=2",
		"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ctrl.Stop(10 * time.Second)

	if err := b.CreateNamespace(ctx, "my-kube"); err != nil {
		return err
	}
	ds, err := bed.SeedDaemonSet()
	if err != nil {
		return err
	}
	say("applying the seed's DaemonSet my-kube/%s", ds.Name)
	if _, err := b.Client.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return err
	}
	return watch(ctx, b, ctrl, ds.Namespace, ds.Name, len(names))
}

// watch prints kubectl's view each second until every node runs a ready pod.
func watch(ctx context.Context, b *bed.Bed, ctrl *bed.Proc, ns, name string, want int) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if ctrl.Exited() {
			return fmt.Errorf("the controller exited:\n%s", bed.Tail(ctrl.Log, 10))
		}
		fmt.Printf("\n--- %s\n", time.Now().Format("15:04:05"))
		if err := kubectl(ctx, b, "get", "ds,pods", "-n", ns, "-o", "wide"); err != nil {
			return err
		}
		ds, err := b.Client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s := ds.Status; int(s.NumberReady) == want && int(s.DesiredNumberScheduled) == want && s.ObservedGeneration == ds.Generation {
			say("every node runs its pod (%d of %d ready)", s.NumberReady, want)
			return nil
		}
	}
}

func kubectl(ctx context.Context, b *bed.Bed, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(b.Tools, "kubectl"), append([]string{"--kubeconfig=" + b.Kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
