// Package e2e proves the controller against a real control plane: the
// tests start etcd, kube-apiserver, kube-controller-manager (without its
// DaemonSet controller), kube-scheduler and kwok, run the controller binary
// out of cluster, and stop everything afterwards.
package e2e

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

var (
	tb       *bed.Bed
	ctrlBin  string
	ctrlConf string // the kubeconfig of the controller's service account

	ctrlMu   sync.Mutex
	ctrl     *bed.Proc
	runs     int
	ctrlDown bool // stopped on purpose by stopController
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	tb, err = bed.Start(ctx, bed.Options{Log: log.Printf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot start the test bed:", err)
		return 1
	}
	defer tb.Stop()
	if ctrlBin, err = tb.BuildController(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if ctrlConf, err = tb.ControllerKubeconfig(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := restartController(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { currentController().Stop(10 * e2eSecond) }()
	code := m.Run()
	if code == 0 {
		code = checkLogs()
	}
	if code == 0 && os.Getenv("E2E_KEEP") == "" {
		defer os.RemoveAll(tb.Dir)
	} else {
		fmt.Fprintln(os.Stderr, "e2e: logs and data are in", tb.Dir)
	}
	return code
}

// restartController starts a fresh controller process (the previous one
// must be stopped), with the default client limits a user gets and only the
// rights manifests/rbac.yaml grants.
func restartController(args ...string) error {
	ctrlMu.Lock()
	defer ctrlMu.Unlock()
	runs++
	if len(args) == 0 {
		args = []string{"-v=2"}
	}
	p, err := tb.StartController(ctrlBin, fmt.Sprintf("daemonset-controller-%d", runs), ctrlConf, args...)
	if err != nil {
		return err
	}
	ctrl, ctrlDown = p, false
	return nil
}

// stopController stops the controller on purpose (SIGTERM).
func stopController() {
	ctrlMu.Lock()
	p := ctrl
	ctrlDown = true
	ctrlMu.Unlock()
	p.Stop(10 * e2eSecond)
}

func currentController() *bed.Proc {
	ctrlMu.Lock()
	defer ctrlMu.Unlock()
	return ctrl
}

// checkController fails the test if the controller died under it.
func checkController(t *testing.T) {
	t.Helper()
	ctrlMu.Lock()
	p, down := ctrl, ctrlDown
	ctrlMu.Unlock()
	if !down && p.Exited() {
		t.Fatalf("the controller exited: %s", bed.Tail(p.Log, 20))
	}
}

// checkLogs fails the run if any controller process was refused by RBAC:
// manifests/rbac.yaml must grant everything the controller does.
func checkLogs() int {
	ctrlMu.Lock()
	defer ctrlMu.Unlock()
	code := 0
	for i := 1; i <= runs; i++ {
		log := filepath.Join(tb.Dir, fmt.Sprintf("daemonset-controller-%d.log", i))
		data, err := os.ReadFile(log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "forbidden") {
				fmt.Fprintln(os.Stderr, "e2e: the controller was refused by RBAC:", line)
				code = 1
			}
		}
	}
	return code
}
