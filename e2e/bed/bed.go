// Package bed runs a real Kubernetes control plane on loopback for tests and
// the demo: etcd, kube-apiserver, kube-controller-manager (without its
// DaemonSet controller), kube-scheduler, and kwok playing the kubelets.
package bed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options shape a bed.
type Options struct {
	// Dir holds certificates, kubeconfig, data and logs; a temporary
	// folder when empty.
	Dir string
	// KCMControllers is kube-controller-manager's --controllers; by default
	// every controller but the DaemonSet controller.
	KCMControllers string
	// Log, when set, receives progress lines.
	Log func(format string, args ...any)
	// AuditPolicy replaces the audit policy (by default: every request of
	// the controller's service account, at Metadata level).
	AuditPolicy []byte
}

// Bed is a running control plane.
type Bed struct {
	Dir        string
	Tools      string // folder with the control-plane binaries
	Root       string // the repository
	Kubeconfig string
	CAFile     string // the API server's CA certificate, for clients of its own
	// AuditLog records every request of the controller's service account
	// (JSON lines), to check the RBAC it is granted against what it uses;
	// or what Options.AuditPolicy asks for.
	AuditLog string
	Config   *rest.Config
	Client   kubernetes.Interface
	procs    []*Proc // in start order
	log      func(string, ...any)
	kcmArgs  []string // without --controllers
}

// Start builds what is missing and starts the control plane. On error
// everything started so far is stopped again.
func Start(ctx context.Context, o Options) (b *Bed, err error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "dsc-bed-"); err != nil {
			return nil, err
		}
	}
	b = &Bed{Dir: dir, Root: root, log: o.Log}
	if b.log == nil {
		b.log = func(string, ...any) {}
	}
	started := b // the error returns below set b to nil
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	b.log("building the test-bed binaries (the first run takes ~10 min)")
	if b.Tools, err = BuildTools(ctx, root); err != nil {
		return nil, err
	}
	if err := b.startControlPlane(ctx, o); err != nil {
		return nil, fmt.Errorf("%w (logs in %s)", err, dir)
	}
	return b, nil
}

func (b *Bed) startControlPlane(ctx context.Context, o Options) error {
	p, err := makePKI(b.Dir)
	if err != nil {
		return err
	}
	ports := make([]int, 6)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	b.log("starting etcd, kube-apiserver")
	if err := b.start("etcd", "--name=bed", "--data-dir="+filepath.Join(b.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=bed="+peerURL, "--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return err
	}
	audit := filepath.Join(b.Dir, "audit-policy.yaml")
	policy := auditPolicy
	if o.AuditPolicy != nil {
		policy = o.AuditPolicy
	}
	if err := os.WriteFile(audit, policy, 0o644); err != nil {
		return err
	}
	b.AuditLog = filepath.Join(b.Dir, "audit.log")
	if err := b.start("kube-apiserver", "--etcd-servers="+etcdURL,
		"--audit-policy-file="+audit, "--audit-log-path="+b.AuditLog, "--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey, "--client-ca-file="+p.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none", "--allow-privileged=true",
		"--cert-dir="+filepath.Join(b.Dir, "apiserver-certs")); err != nil {
		return err
	}
	b.Kubeconfig = filepath.Join(b.Dir, "admin.kubeconfig")
	b.CAFile = p.caCert
	if err := writeKubeconfig(b.Kubeconfig, fmt.Sprintf("https://127.0.0.1:%d", apiPort), p); err != nil {
		return err
	}
	if b.Config, err = clientcmd.BuildConfigFromFlags("", b.Kubeconfig); err != nil {
		return err
	}
	// Hold the certificates in memory: a client that names their files
	// rereads them (client-go's certificate and CA rotation) and, once the
	// bed is gone, logs a failure to load them every few seconds for the
	// rest of a bench that runs many beds.
	if err := rest.LoadTLSFiles(b.Config); err != nil {
		return err
	}
	b.Config.CertFile, b.Config.KeyFile, b.Config.CAFile = "", "", ""
	b.Config.QPS, b.Config.Burst = 500, 1000
	if b.Client, err = kubernetes.NewForConfig(b.Config); err != nil {
		return err
	}
	if err := b.waitReady(ctx); err != nil {
		return err
	}
	controllers := o.KCMControllers
	if controllers == "" {
		controllers = "*,-daemonset-controller"
	}
	b.log("starting kube-controller-manager (--controllers=%s), kube-scheduler, kwok", controllers)
	b.kcmArgs = []string{"--kubeconfig=" + b.Kubeconfig,
		"--authentication-kubeconfig=" + b.Kubeconfig, "--authorization-kubeconfig=" + b.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort), "--leader-elect=false",
		"--service-account-private-key-file=" + p.saKey, "--root-ca-file=" + p.caCert,
		"--use-service-account-credentials=false", "--kube-api-qps=200", "--kube-api-burst=400"}
	if err := b.start("kube-controller-manager", append(b.kcmArgs, "--controllers="+controllers)...); err != nil {
		return err
	}
	if err := b.start("kube-scheduler", "--kubeconfig="+b.Kubeconfig,
		"--authentication-kubeconfig="+b.Kubeconfig, "--authorization-kubeconfig="+b.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort), "--leader-elect=false",
		"--kube-api-qps=500", "--kube-api-burst=1000"); err != nil {
		return err
	}
	stages := filepath.Join(b.Dir, "kwok-stages.yaml")
	if err := writeStages(stages, filepath.Join(b.Tools, "kwok-stages.yaml")); err != nil {
		return err
	}
	if err := b.start("kwok", "--kubeconfig="+b.Kubeconfig, "--config="+stages,
		"--manage-all-nodes=true", "--node-lease-duration-seconds=40", "--cidr=10.128.0.0/9",
		"--node-ip=10.0.0.1", fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort)); err != nil {
		return err
	}
	// Pods can be created once the service-account controller runs.
	return b.WaitFor(ctx, 60*time.Second, "the default service account", func(ctx context.Context) (bool, error) {
		_, err := b.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func (b *Bed) start(name string, args ...string) error {
	p, err := startProc(b.Dir, name, filepath.Join(b.Tools, name), args...)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	return nil
}

func (b *Bed) waitReady(ctx context.Context) error {
	return b.WaitFor(ctx, 90*time.Second, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		for _, p := range b.procs {
			if p.Exited() {
				return false, fmt.Errorf("%s exited: %s", p.Name, Tail(p.Log, 5))
			}
		}
		_, err := b.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, nil
	})
}

// WaitFor polls cond every 200 ms until it holds, fails, or timeout passes.
func (b *Bed) WaitFor(ctx context.Context, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, cond)
	if err != nil && wait.Interrupted(err) {
		return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
	}
	return err
}

// RestartKCM restarts kube-controller-manager with the given --controllers,
// e.g. "*" to run the built-in DaemonSet controller for a side-by-side run.
func (b *Bed) RestartKCM(controllers string) error {
	for i, p := range b.procs {
		if p.Name != "kube-controller-manager" {
			continue
		}
		p.Stop(10 * time.Second)
		np, err := startProc(b.Dir, p.Name, filepath.Join(b.Tools, p.Name), append(b.kcmArgs, "--controllers="+controllers)...)
		if err != nil {
			return err
		}
		b.procs[i] = np
		return nil
	}
	return errors.New("kube-controller-manager is not running")
}

// ControllerUser is the user the controller authenticates as in the bed.
const ControllerUser = "system:serviceaccount:kube-system:daemonset-controller"

var auditPolicy = []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + ControllerUser + `"]
- level: None
`)

// StartKCM starts one more kube-controller-manager (for example one that
// runs only the built-in DaemonSet controller, for a side-by-side run),
// with its own port and extra flags such as --kube-api-qps.
func (b *Bed) StartKCM(name, controllers string, extra ...string) (*Proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{}
	for _, a := range b.kcmArgs {
		if !strings.HasPrefix(a, "--secure-port=") && !strings.HasPrefix(a, "--kube-api-") {
			args = append(args, a)
		}
	}
	args = append(args, "--secure-port="+strconv.Itoa(port), "--controllers="+controllers)
	return startProc(b.Dir, name, filepath.Join(b.Tools, "kube-controller-manager"), append(args, extra...)...)
}

// writeStages writes kwok's stock stages plus the bed's own.
func writeStages(path, stock string) error {
	data, err := os.ReadFile(stock)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(append(data, '\n'), neverReadyStage...), 0o644)
}

// Procs returns the control-plane processes.
func (b *Bed) Procs() []*Proc { return b.procs }

// Stop ends every process, clients first: kube-apiserver hangs in its
// shutdown for minutes if etcd goes before it.
func (b *Bed) Stop() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].Stop(5 * time.Second)
	}
	b.procs = nil
}

// StartController runs the controller binary against the bed, out of
// cluster, with the given kubeconfig.
func (b *Bed) StartController(bin, name, kubeconfig string, args ...string) (*Proc, error) {
	return startProc(b.Dir, name, bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
}

// BuildController builds the controller binary into the bed's folder.
func (b *Bed) BuildController(ctx context.Context) (string, error) {
	out := filepath.Join(b.Dir, "daemonset-controller")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = b.Root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the controller: %v: %s", err, msg)
	}
	return out, nil
}

// BuildTools runs e2e/tools/build.sh and returns the folder it built into.
func BuildTools(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "e2e", "tools", "build.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building test-bed tools: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot finds the repository from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(data), "module github.com/daemonset-controller/daemonset-controller\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the daemonset-controller repository")
		}
		dir = parent
	}
}

func writeKubeconfig(path, server string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bed"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.caCert}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: p.adminCert, ClientKey: p.adminKey}
	cfg.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "admin"}
	cfg.CurrentContext = "bed"
	return clientcmd.WriteToFile(*cfg, path)
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NodeOptions describe a kwok node.
type NodeOptions struct {
	Labels map[string]string
	Taints []v1.Taint
}

// CreateNode registers a kwok node; kwok makes it Ready and keeps its lease.
func (b *Bed) CreateNode(ctx context.Context, name string, o NodeOptions) error {
	lbls := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"}
	for k, v := range o.Labels {
		lbls[k] = v
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec:       v1.NodeSpec{Taints: o.Taints},
	}
	_, err := b.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	return err
}

// WaitNodesReady waits until the named nodes report Ready.
func (b *Bed) WaitNodesReady(ctx context.Context, timeout time.Duration, names ...string) error {
	return b.WaitFor(ctx, timeout, fmt.Sprintf("%d nodes Ready", len(names)), func(ctx context.Context) (bool, error) {
		for _, n := range names {
			node, err := b.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			ready := false
			for _, c := range node.Status.Conditions {
				ready = ready || (c.Type == v1.NodeReady && c.Status == v1.ConditionTrue)
			}
			// Until kube-controller-manager lifts the not-ready taint that
			// new nodes carry, no daemon pod is placed there.
			for _, taint := range node.Spec.Taints {
				ready = ready && taint.Key != v1.TaintNodeNotReady && taint.Key != v1.TaintNodeUnreachable
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
}

// CreateNamespace creates ns and waits for its default service account, so
// pods can be created in it.
func (b *Bed) CreateNamespace(ctx context.Context, ns string) error {
	_, err := b.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return b.WaitFor(ctx, 60*time.Second, "service account "+ns+"/default", func(ctx context.Context) (bool, error) {
		_, err := b.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// Restart stops one of the bed's own processes (by name, e.g.
// "kube-apiserver" or "etcd"), with SIGKILL when kill is set, else SIGTERM,
// and starts it again with the same arguments and data, so that the
// cluster comes back as it was.
func (b *Bed) Restart(ctx context.Context, name string, kill bool) error {
	for i, p := range b.procs {
		if p.Name != name {
			continue
		}
		if kill {
			p.Kill()
		} else {
			p.Stop(30 * time.Second)
		}
		np, err := startProc(b.Dir, p.Name, p.cmd.Path, p.cmd.Args[1:]...)
		if err != nil {
			return err
		}
		b.procs[i] = np
		return b.waitReady(ctx)
	}
	return fmt.Errorf("%s is not a process of the bed", name)
}
