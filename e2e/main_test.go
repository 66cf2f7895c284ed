// Package e2e proves the controller against a real control plane: the
// tests start etcd, kube-apiserver, kube-controller-manager (without its
// DaemonSet controller), kube-scheduler and kwok, run the controller binary
// out of cluster, and stop everything afterwards.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
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
	ctrl     *controllerProc
	runs     int
	ctrlDown bool // stopped on purpose by stopController
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// Listing tests (go test -list) runs none: no control plane, and no
	// judging of least privilege on a run that used no grant.
	if flag.Lookup("test.list").Value.String() != "" {
		return m.Run()
	}
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
	// Least privilege can only be judged on a full run: a subset (-run)
	// leaves grants unused.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if err := checkRBAC(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			code = 1
		}
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
	p, err := startController(args...)
	if err != nil {
		return err
	}
	ctrlMu.Lock()
	defer ctrlMu.Unlock()
	ctrl, ctrlDown = p, false
	return nil
}

// controllerProc is a controller process and its endpoints.
type controllerProc struct {
	*bed.Proc
	metricsAddr, healthAddr string
}

// startController starts one more controller process with its own free
// ports, leader election on (as deployed) and -v=2 unless args say otherwise.
func startController(args ...string) (*controllerProc, error) {
	return startControllerWith(ctrlConf, args...)
}

// startControllerWith is startController with another kubeconfig, e.g. one
// that reaches the API server through a fault-injecting proxy.
func startControllerWith(kubeconfig string, args ...string) (*controllerProc, error) {
	ctrlMu.Lock()
	runs++
	n := runs
	ctrlMu.Unlock()
	mp, err := bed.FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := bed.FreePort()
	if err != nil {
		return nil, err
	}
	c := &controllerProc{metricsAddr: fmt.Sprintf("127.0.0.1:%d", mp), healthAddr: fmt.Sprintf("127.0.0.1:%d", hp)}
	all := []string{"-v=2", "--metrics-bind-address=" + c.metricsAddr, "--health-probe-bind-address=" + c.healthAddr}
	c.Proc, err = tb.StartController(ctrlBin, fmt.Sprintf("daemonset-controller-%d", n), kubeconfig, append(all, args...)...)
	return c, err
}

// stopController stops the controller on purpose (SIGTERM).
func stopController() {
	ctrlMu.Lock()
	p := ctrl
	ctrlDown = true
	ctrlMu.Unlock()
	p.Stop(10 * e2eSecond)
}

func currentController() *controllerProc {
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

// rbacRefusal matches the authorizer's refusal in a log line (`pods is
// forbidden: User "..." cannot create resource ...`, quotes escaped in
// structured logs). Admission also answers "forbidden" (an exceeded quota,
// a policy, a namespace being deleted), which the tests provoke on purpose
// and which no grant could avoid.
var rbacRefusal = regexp.MustCompile(`forbidden: User \\?".*\\?" cannot `)

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
			if rbacRefusal.MatchString(line) {
				fmt.Fprintln(os.Stderr, "e2e: the controller was refused by RBAC:", line)
				code = 1
			}
		}
	}
	return code
}
