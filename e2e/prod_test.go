package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

var (
	readerOnce  sync.Once
	readerToken string // may get /metrics (bound to daemonset-controller-metrics-reader)
	nobodyToken string // authenticated, not authorised
	readerErr   error
)

// tokens creates two service accounts: one bound to the metrics-reader
// ClusterRole from manifests/rbac.yaml, one bound to nothing.
func tokens(t *testing.T) (reader, nobody string) {
	t.Helper()
	readerOnce.Do(func() {
		ctx := context.Background()
		for _, sa := range []string{"metrics-scraper", "nobody"} {
			_, err := tb.Client.CoreV1().ServiceAccounts("kube-system").Create(ctx,
				&v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				readerErr = err
				return
			}
		}
		_, err := tb.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-scraper"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "daemonset-controller-metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "metrics-scraper", Namespace: "kube-system"}},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			readerErr = err
			return
		}
		if _, readerToken, readerErr = tb.TokenKubeconfig(ctx, "kube-system", "metrics-scraper"); readerErr != nil {
			return
		}
		_, nobodyToken, readerErr = tb.TokenKubeconfig(ctx, "kube-system", "nobody")
	})
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	return readerToken, nobodyToken
}

var insecureClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the controller's self-signed certificate
}}

// get fetches an https URL with a bearer token; it returns the status code.
func get(u, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecureClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metricValue sums the samples of a metric whose line starts with prefix.
func metricValue(body, prefix string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func scrape(t *testing.T, c *controllerProc) string {
	t.Helper()
	reader, _ := tokens(t)
	code, body, err := get("https://"+c.metricsAddr+"/metrics", reader)
	if err != nil || code != 200 {
		t.Fatalf("scraping %s: %d %v", c.Name, code, err)
	}
	return body
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install Debian's prometheus package (.ci/run does)", name)
	}
	return p
}

// TestMetricsScrapedByPrometheus: /metrics needs a token the API server
// authorises; promtool finds nothing wrong with a scrape; a real Prometheus
// scrapes it over HTTPS and answers queries on the reconcile latency.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	prom, promtool := tool(t, "prometheus"), tool(t, "promtool")
	reader, nobody := tokens(t)
	c := currentController()
	waitReady(t, c)
	u := "https://" + c.metricsAddr + "/metrics"
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"not-a-token", 401}, {nobody, 403}, {reader, 200}} {
		if code, _, err := get(u, tc.token); err != nil || code != tc.want {
			t.Errorf("GET /metrics with token %.10q: %d %v, want %d", tc.token, code, err, tc.want)
		}
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(reader), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := bed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: daemonset-controller
  scheme: https
  tls_config: {insecure_skip_verify: true}
  authorization: {credentials_file: %s}
  static_configs: [{targets: ["%s"]}]
`, tokenFile, c.metricsAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := bed.StartProcess(tb.Dir, "prometheus", prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)

	// Some work to measure: a DaemonSet rolled out to a new image.
	nodes := groupNodes("metrics", 2)
	isolatedNodes(t, "metrics", nodes)
	createNamespace(t, "metrics")
	ds := createDaemonSet(t, rolloutDaemonSet("metrics", "agent", "metrics", "1", "0"))
	eventually(t, 2*time.Minute, "pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	setImage(t, ds, "registry.example/daemon:2")
	eventually(t, 2*time.Minute, "rolled out", rolledOut(ds, nodes, "registry.example/daemon:2"))

	// A scrape after real work: every family is there, and promtool
	// finds nothing to criticise.
	body := scrape(t, c)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range []string{"daemonset_controller_sync_duration_seconds_bucket", "daemonset_controller_syncs_total",
		"workqueue_depth", "rest_client_requests_total", "daemonset_controller_leader", "daemonset_controller_build_info",
		"go_goroutines", "process_resident_memory_bytes", "daemonset_controller_pending_expectations"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("the scrape has no %s", name)
		}
	}

	query := func(q string) (float64, string) {
		code, body, err := get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", port, url.QueryEscape(q)), "")
		if err != nil || code != 200 {
			return 0, fmt.Sprintf("query %q: %d %v %s", q, code, err, body)
		}
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data.Result) == 0 {
			return 0, fmt.Sprintf("query %q: no result: %s", q, body)
		}
		v, _ := strconv.ParseFloat(fmt.Sprint(r.Data.Result[0].Value[1]), 64)
		return v, ""
	}
	eventually(t, time.Minute, "Prometheus to scrape the controller", func(context.Context) string {
		if v, msg := query(`up{job="daemonset-controller"}`); msg != "" || v != 1 {
			return fmt.Sprintf("up=%v %s (prometheus log: %s)", v, msg, bed.Tail(p.Log, 3))
		}
		if v, msg := query(`sum(daemonset_controller_sync_duration_seconds_count{result="success"})`); msg != "" || v == 0 {
			return fmt.Sprintf("sync count %v %s", v, msg)
		}
		if v, msg := query(`histogram_quantile(0.99, sum by (le) (rate(daemonset_controller_sync_duration_seconds_bucket[1m])))`); msg != "" || !(v > 0) {
			return fmt.Sprintf("p99 reconcile latency %v %s", v, msg)
		}
		return ""
	})
}

// TestAlertRules: the PrometheusRule's alerts are valid and behave as their
// unit tests (manifests/prometheus/alerts_test.yaml) say.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := t.TempDir()
	rules, err := bed.RuleGroups(filepath.Join(tb.Root, "manifests", "prometheus", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.json"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(tb.Root, "manifests", "prometheus", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "alerts.json"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// leaders returns the controllers that report being the leader.
// A controller that is not serving yet counts as not leading.
func leaders(t *testing.T, cs ...*controllerProc) []*controllerProc {
	reader, _ := tokens(t)
	var out []*controllerProc
	for _, c := range cs {
		if c.Exited() {
			continue
		}
		code, body, err := get("https://"+c.metricsAddr+"/metrics", reader)
		if err == nil && code == 200 && metricValue(body, "daemonset_controller_leader ") == 1 {
			out = append(out, c)
		}
	}
	return out
}

var leaseDuration = 15 * time.Second // the default, as deployed

// TestLeaderElection: with two replicas only the leader writes; SIGKILL of
// the leader hands over within the lease duration, with never two pods on a
// node; SIGTERM hands over at once.
func TestLeaderElection(t *testing.T) {
	stopController()
	t.Cleanup(func() {
		if err := restartController(); err != nil {
			t.Error(err)
		}
	})
	a, err := startController()
	if err != nil {
		t.Fatal(err)
	}
	b, err := startController()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(10 * time.Second)
	defer b.Stop(10 * time.Second)
	var leader, standby *controllerProc
	eventually(t, 2*leaseDuration, "exactly one leader", func(context.Context) string {
		l := leaders(t, a, b)
		if len(l) != 1 {
			return fmt.Sprintf("%d leaders", len(l))
		}
		leader, standby = l[0], a
		if leader == a {
			standby = b
		}
		return ""
	})

	nodes := groupNodes("leader", 40)
	isolatedNodes(t, "leader", nodes)
	createNamespace(t, "leader")
	doubled := watchDoubles(t, "leader")
	ds := createDaemonSet(t, simpleDaemonSet("leader", "agent", "leader"))
	eventually(t, time.Minute, "the leader creating pods", func(ctx context.Context) string {
		byNode, err := daemonPods(ctx, ds)
		if err != nil || len(byNode) < 5 {
			return fmt.Sprintf("%d nodes have pods", len(byNode))
		}
		return ""
	})
	if n := metricValue(scrape(t, standby), "daemonset_controller_syncs_total"); n != 0 {
		t.Errorf("the standby synced %v times while not leading", n)
	}
	leader.Kill()
	killed := time.Now()
	eventually(t, leaseDuration+10*time.Second, "the standby leading after SIGKILL of the leader", func(context.Context) string {
		if len(leaders(t, standby)) != 1 {
			return "not yet"
		}
		return ""
	})
	t.Logf("took over %v after SIGKILL (lease duration %v)", time.Since(killed).Round(100*time.Millisecond), leaseDuration)
	eventually(t, 2*time.Minute, "one pod on every node", func(ctx context.Context) string { return placedExactly(ctx, ds, nodes) })
	if d := doubled(); len(d) > 0 {
		t.Errorf("nodes that held two pods: %v", d)
	}
	if n := metricValue(scrape(t, standby), `daemonset_controller_pods_created_total{result="success"}`); n == 0 {
		t.Error("the new leader created no pods")
	}

	// SIGTERM: the leader releases the lease and a standby takes it at once.
	c, err := startController()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	waitReady(t, c)
	standby.Signal(syscall.SIGTERM)
	termed := time.Now()
	eventually(t, 8*time.Second, "the third replica leading right after SIGTERM", func(context.Context) string {
		if len(leaders(t, c)) != 1 {
			return "not yet"
		}
		return ""
	})
	t.Logf("took over %v after SIGTERM", time.Since(termed).Round(100*time.Millisecond))
	if code := standby.ExitCode(); code != 0 {
		t.Errorf("the old leader exited %d after SIGTERM, want 0", code)
	}
}

// TestShadowMode: a --shadow controller beside the built-in DaemonSet
// controller computes an empty plan once the built-in one has converged,
// and writes nothing.
func TestShadowMode(t *testing.T) {
	stopController()
	if err := tb.RestartKCM("*"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.RestartKCM("*,-daemonset-controller"); err != nil {
			t.Error(err)
		}
		if err := restartController(); err != nil {
			t.Error(err)
		}
	})
	auditStart, err := os.Stat(tb.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := startController("--shadow")
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Stop(10 * time.Second)

	nodes := groupNodes("shadow", 5)
	isolatedNodes(t, "shadow", nodes)
	createNamespace(t, "shadow")
	ds := createDaemonSet(t, simpleDaemonSet("shadow", "agent", "shadow"))
	eventually(t, 2*time.Minute, "the built-in controller's pods ready", rolledOut(ds, nodes, "registry.example/daemon:1"))
	reader, _ := tokens(t)
	eventually(t, time.Minute, "an empty shadow plan for shadow/agent", func(context.Context) string {
		code, body, err := get("https://"+shadow.metricsAddr+"/debug/plan", reader)
		if err != nil || code != 200 {
			return fmt.Sprint(code, err)
		}
		var plans map[string]struct{ Create, Delete []string }
		if err := json.Unmarshal([]byte(body), &plans); err != nil {
			return err.Error()
		}
		p, ok := plans["shadow/agent"]
		if !ok || len(p.Create) > 0 || len(p.Delete) > 0 {
			return "plan: " + body
		}
		return ""
	})
	m := scrape(t, shadow)
	if v := metricValue(m, `daemonset_controller_shadow_planned_pods{action="create",daemonset="agent",namespace="shadow"}`); v != 0 {
		t.Errorf("shadow metric says %v creations", v)
	}
	if !strings.Contains(m, `daemonset_controller_shadow_planned_pods{action="create",daemonset="agent",namespace="shadow"}`) {
		t.Error("the shadow plan is not in the metrics")
	}
	if writes := controllerWritesSince(t, auditStart.Size()); len(writes) > 0 {
		t.Errorf("the shadow wrote: %v", writes)
	}
}

var reviewResource = regexp.MustCompile(`^(authentication|authorization)\.k8s\.io/`)

// controllerWritesSince returns the controller user's writes in the audit
// log after offset, leaving out token and access reviews (the metrics
// endpoint's authentication, which change nothing).
func controllerWritesSince(t *testing.T, offset int64) []string {
	t.Helper()
	var out []string
	for _, e := range auditEventsSince(t, offset) {
		if e.User.Username != bed.ControllerUser || e.ObjectRef == nil {
			continue
		}
		switch e.Verb {
		case "get", "list", "watch":
			continue
		}
		g := grant(e.ObjectRef.APIGroup, e.ObjectRef.Resource, e.Verb)
		if !reviewResource.MatchString(g) {
			out = append(out, g+" "+e.RequestURI)
		}
	}
	return out
}

// waitReady waits for a controller's /readyz.
func waitReady(t *testing.T, c *controllerProc) {
	t.Helper()
	eventually(t, 30*time.Second, c.Name+" ready", func(context.Context) string {
		if code, _, err := get("http://"+c.healthAddr+"/readyz", ""); err != nil || code != 200 {
			return fmt.Sprint(code, err)
		}
		return ""
	})
}
