package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// The tests in this file run controllers of their own, each as a
// ServiceAccount of the namespace credNS (never the deployed one, so the
// least-privilege check of the audit log only ever sees the real
// controller), with a Lease of its own, and named "credentials-..." so the
// check that the real controller was never refused leaves them alone.

const credNS = "credentials"

// badKubeconfig writes a kubeconfig for server, authenticating with token.
func badKubeconfig(t *testing.T, name string, cluster *clientcmdapi.Cluster, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = cluster
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func bedCluster() *clientcmdapi.Cluster {
	return &clientcmdapi.Cluster{Server: tb.Config.Host, CertificateAuthority: tb.CAFile}
}

// runToFailure runs the controller binary to its end and checks that it
// ends within limit with exit code 1 and one line on stderr (no trace)
// that says want.
func runToFailure(t *testing.T, limit time.Duration, want []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, ctrlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	out := strings.TrimSpace(stderr.String())
	t.Logf("after %v: %s", took.Round(100*time.Millisecond), out)
	if ctx.Err() != nil {
		t.Fatal("still running after 60 s")
	}
	if took > limit {
		t.Errorf("took %v to fail, want at most %v", took.Round(100*time.Millisecond), limit)
	}
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("stderr does not say %q", w)
		}
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
		t.Errorf("stderr has a stack trace")
	}
	if strings.Count(out, "\n") > 0 {
		t.Errorf("want one line, got %d", strings.Count(out, "\n")+1)
	}
}

// TestCredentialsNowhere: a kubeconfig that points nowhere (a host name
// that does not resolve, a server whose certificate is not the one the
// kubeconfig trusts, no cluster at all) ends the binary with one clear line
// and exit code 1. (A port nobody listens on is in TestUserErrors.)
func TestCredentialsNowhere(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	untrusted := bedCluster()
	untrusted.CertificateAuthority = "" // the bed's CA is not a system root
	cases := []struct {
		name       string
		kubeconfig string
		limit      time.Duration
		want       []string
	}{
		{"unresolvable host", badKubeconfig(t, "nxdomain", &clientcmdapi.Cluster{Server: "https://no-such-host.invalid:6443"}, "x"),
			30 * time.Second, []string{"cannot reach the API server at https://no-such-host.invalid:6443", "no such host"}},
		{"untrusted server certificate", badKubeconfig(t, "untrusted", untrusted, "x"),
			5 * time.Second, []string{"the API server at " + tb.Config.Host, "certificate", "certificate-authority"}},
		{"empty kubeconfig", empty, 5 * time.Second, []string{"loading kubeconfig " + empty}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runToFailure(t, tc.limit, tc.want, "--kubeconfig="+tc.kubeconfig)
		})
	}
}

// TestCredentialsRejectedAtStart: credentials the API server rejects (an
// invalid token, an expired one, the token of a deleted ServiceAccount)
// end the binary at once with one line that says so, and exit code 1.
func TestCredentialsRejectedAtStart(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, credNS)
	sa := credServiceAccount(t, "rejected-at-start")
	deleted, _, err := tb.TokenKubeconfig(ctx, credNS, "rejected-at-start")
	if err != nil {
		t.Fatal(err)
	}
	// A token signed with the API server's service-account key whose only
	// fault is its age: the same token with a later expiry is accepted.
	if _, err := tb.Client.CoreV1().ServiceAccounts(credNS).Create(ctx,
		&v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "expired"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteServiceAccount(t, "expired") })
	expiredSA, err := tb.Client.CoreV1().ServiceAccounts(credNS).Get(ctx, "expired", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if user := whoAmI(t, signToken(t, expiredSA, now.Add(-time.Hour), now.Add(time.Hour))); user != "system:serviceaccount:"+credNS+":expired" {
		t.Fatalf("a fresh hand-signed token authenticates as %q", user)
	}
	expired := badKubeconfig(t, "expired", bedCluster(), signToken(t, expiredSA, now.Add(-2*time.Hour), now.Add(-time.Hour)))
	deleteServiceAccount(t, sa)

	rejected := []string{"the API server at " + tb.Config.Host + " rejected our credentials (401 Unauthorized)"}
	cases := []struct{ name, kubeconfig string }{
		{"invalid token", badKubeconfig(t, "invalid", bedCluster(), "not-a-token")},
		{"expired token", expired},
		{"deleted service account", deleted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runToFailure(t, 10*time.Second, rejected, "--kubeconfig="+tc.kubeconfig,
				"--metrics-bind-address=0", "--health-probe-bind-address=0")
		})
	}
}

// signToken makes a service-account token for sa valid from nbf to exp,
// signed with the bed's service-account key (ES256), as the API server's
// TokenRequest would.
func signToken(t *testing.T, sa *v1.ServiceAccount, nbf, exp time.Time) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tb.Dir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://kubernetes.default.svc.cluster.local"
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": issuer, "aud": []string{issuer},
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"iat": nbf.Unix(), "nbf": nbf.Unix(), "exp": exp.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      sa.Namespace,
			"serviceaccount": map[string]string{"name": sa.Name, "uid": string(sa.UID)},
		},
	})
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig)
}

// waitRejected waits until the API server rejects the token of kubeconfig
// (it caches accepted tokens for a few seconds).
func waitRejected(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	token := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Token
	eventually(t, 30*time.Second, "the token rejected", func(context.Context) string {
		if user := whoAmI(t, token); user != "" {
			return "still accepted as " + user
		}
		return ""
	})
}

// whoAmI returns the user token authenticates as ("" if rejected).
func whoAmI(t *testing.T, token string) string {
	t.Helper()
	cfg := &rest.Config{Host: tb.Config.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: tb.CAFile}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return ""
	}
	return r.Status.UserInfo.Username
}

// credServiceAccount creates the ServiceAccount credNS/name, deleted when
// the test ends.
func credServiceAccount(t *testing.T, name string) string {
	t.Helper()
	_, err := tb.Client.CoreV1().ServiceAccounts(credNS).Create(context.Background(),
		&v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteServiceAccount(t, name) })
	return name
}

func deleteServiceAccount(t *testing.T, name string) {
	err := tb.Client.CoreV1().ServiceAccounts(credNS).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting service account %s: %v", name, err)
	}
}

// controllerRules returns the rules of the controller's ClusterRole in
// manifests/rbac.yaml.
func controllerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tb.Root, "manifests", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cr, ok := obj.(*rbacv1.ClusterRole); ok && cr.Name == "daemonset-controller" {
			return cr.Rules
		}
	}
	t.Fatal("no ClusterRole daemonset-controller in manifests/rbac.yaml")
	return nil
}

// without returns rules less the given verbs on group/resource.
func without(rules []rbacv1.PolicyRule, group, resource string, verbs ...string) []rbacv1.PolicyRule {
	drop := map[string]bool{}
	for _, v := range verbs {
		drop[v] = true
	}
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		r = *r.DeepCopy()
		if len(r.APIGroups) == 1 && r.APIGroups[0] == group && len(r.Resources) == 1 && r.Resources[0] == resource {
			var keep []string
			for _, v := range r.Verbs {
				if !drop[v] {
					keep = append(keep, v)
				}
			}
			if r.Verbs = keep; len(keep) == 0 {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// credAccount creates the ServiceAccount credNS/name with a ClusterRole of
// the given rules and a Role for the Lease "credentials-<name>" in
// kube-system, and returns a kubeconfig with a token of it. Everything is
// deleted when the test ends.
func credAccount(t *testing.T, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	createNamespace(t, credNS)
	credServiceAccount(t, name)
	role := "credentials-" + name
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: credNS}}
	rbac := tb.Client.RbacV1()
	_, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: rules}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), role, metav1.DeleteOptions{}) })
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subject,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), role, metav1.DeleteOptions{}) })
	_, err = rbac.Roles("kube-system").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{role}, Verbs: []string{"get", "update"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.Roles("kube-system").Delete(context.Background(), role, metav1.DeleteOptions{}) })
	_, err = rbac.RoleBindings("kube-system").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   subject,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = rbac.RoleBindings("kube-system").Delete(ctx, role, metav1.DeleteOptions{})
		_ = tb.Client.CoordinationV1().Leases("kube-system").Delete(ctx, role, metav1.DeleteOptions{})
	})
	path, _, err := tb.TokenKubeconfig(ctx, credNS, name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// credController starts a controller as credNS/name, with its own Lease
// and ports, stopped when the test ends. The real controller is stopped
// for the test, so that it does not do the work this one cannot.
func credController(t *testing.T, name, kubeconfig string, args ...string) *controllerProc {
	t.Helper()
	mp, err := bed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hp, err := bed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &controllerProc{metricsAddr: fmt.Sprintf("127.0.0.1:%d", mp), healthAddr: fmt.Sprintf("127.0.0.1:%d", hp)}
	all := append([]string{"-v=2", "--metrics-bind-address=" + c.metricsAddr, "--health-probe-bind-address=" + c.healthAddr,
		"--leader-elect-resource-name=credentials-" + name, "--leader-elect-resource-namespace=kube-system"}, args...)
	c.Proc, err = tb.StartController(ctrlBin, "credentials-"+name, kubeconfig, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(10 * time.Second) })
	return c
}

// withoutRealController stops the deployed controller until the test ends.
func withoutRealController(t *testing.T) {
	t.Helper()
	stopController()
	t.Cleanup(func() {
		if err := restartController(); err != nil {
			t.Error(err)
		}
	})
}

// httpGet fetches a plain-HTTP URL and returns the status code and body.
func httpGet(u string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// insecureMetrics scrapes a controller started with --metrics-insecure.
func insecureMetrics(t *testing.T, c *controllerProc) string {
	t.Helper()
	code, body, err := httpGet("http://" + c.metricsAddr + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scraping %s: %d %v", c.Name, code, err)
	}
	return body
}

// alive fails the test if c exited.
func alive(t *testing.T, c *controllerProc) {
	t.Helper()
	if c.Exited() {
		t.Fatalf("%s exited (code %d): %s", c.Name, c.ExitCode(), bed.Tail(c.Log, 20))
	}
}

// noTrace fails the test if c's log holds a stack trace.
func noTrace(t *testing.T, c *controllerProc) {
	t.Helper()
	data, err := os.ReadFile(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") {
		t.Errorf("%s's log has a stack trace: %s", c.Name, bed.Tail(c.Log, 30))
	}
}

// logSays waits until c's log has a line containing every one of words.
func logSays(t *testing.T, c *controllerProc, timeout time.Duration, words ...string) string {
	t.Helper()
	var found string
	eventually(t, timeout, fmt.Sprintf("%s logging %q", c.Name, words), func(context.Context) string {
		data, _ := os.ReadFile(c.Log)
		for _, line := range strings.Split(string(data), "\n") {
			all := true
			for _, w := range words {
				all = all && strings.Contains(line, w)
			}
			if all {
				found = line
				return ""
			}
		}
		return "no such line"
	})
	return found
}

// revocationLimit is how long a revoked token may still be accepted (the
// API server caches successful token reviews for 10 s) plus the renew
// deadline of the leader lease (10 s), with room for a loaded machine.
const revocationLimit = 45 * time.Second

// TestCredentialsRevokedWhileRunning: the controller's ServiceAccount is
// deleted while it runs, so every request then gets 401.
//
// A leader cannot renew its Lease any more: it stops and exits 1 once the
// renew deadline has passed, with one line saying the lease was lost
// because the API server rejected its credentials (so that a replica with
// working credentials can take over, and a restart with new ones can
// recover); until then /readyz says not ready, and why.
//
// Without leader election, it keeps running. Watches opened before the
// revocation go on (the API server authenticates a request when it starts),
// so the controller learns of it from its next write: here, the pods of a
// new DaemonSet. Then /readyz turns not ready and says why, the metric
// daemonset_controller_api_credentials_rejected is 1, the log says so once,
// and retries back off: at most about one request per second in all (no hot
// loop). Both tests scrape /metrics over plain HTTP: with credentials the
// API server rejects, the controller cannot ask it to authenticate a
// scraper either.
func TestCredentialsRevokedWhileRunning(t *testing.T) {
	withoutRealController(t)
	rules := controllerRules(t)

	t.Run("leader", func(t *testing.T) {
		kc := credAccount(t, "revoked-leader", rules)
		c := credController(t, "revoked-leader", kc, "--metrics-insecure")
		waitReady(t, c)
		eventually(t, 30*time.Second, "leading", func(context.Context) string {
			if metricValue(insecureMetrics(t, c), "daemonset_controller_leader ") != 1 {
				return "not leading"
			}
			return ""
		})
		deleteServiceAccount(t, "revoked-leader")
		revoked := time.Now()
		notReady := ""
		for !c.Exited() {
			if time.Since(revoked) > 2*revocationLimit {
				t.Fatalf("still running %v after its ServiceAccount was deleted: %s", time.Since(revoked), bed.Tail(c.Log, 10))
			}
			if code, body, err := httpGet("http://" + c.healthAddr + "/readyz"); err == nil && code != 200 {
				notReady = body
			}
			time.Sleep(200 * time.Millisecond)
		}
		took := time.Since(revoked)
		t.Logf("exited %v after the ServiceAccount was deleted; /readyz said: %q", took.Round(100*time.Millisecond), notReady)
		if took > revocationLimit {
			t.Errorf("took %v to stop leading, want at most %v", took.Round(time.Second), revocationLimit)
		}
		if code := c.ExitCode(); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(notReady, "rejected our credentials") {
			t.Errorf("/readyz never said the credentials were rejected before the exit: %q", notReady)
		}
		last := bed.Tail(c.Log, 1)
		for _, w := range []string{"lost the leader lease", "rejected our credentials (401 Unauthorized)"} {
			if !strings.Contains(last, w) {
				t.Errorf("the last line does not say %q: %s", w, last)
			}
		}
		noTrace(t, c)
	})

	t.Run("no leader election", func(t *testing.T) {
		kc := credAccount(t, "revoked", rules)
		isolatedNodes(t, "revoked", []string{"revoked-1"})
		createNamespace(t, "revoked")
		c := credController(t, "revoked", kc, "--metrics-insecure", "--leader-elect=false")
		waitReady(t, c)
		if v := metricValue(insecureMetrics(t, c), "daemonset_controller_api_credentials_rejected "); v != 0 {
			t.Errorf("daemonset_controller_api_credentials_rejected = %v before the revocation, want 0", v)
		}
		deleteServiceAccount(t, "revoked")
		waitRejected(t, kc)
		ds := createDaemonSet(t, simpleDaemonSet("revoked", "agent", "revoked"))
		t.Cleanup(func() {
			_ = tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
		})
		eventually(t, revocationLimit, "/readyz saying the credentials are rejected", func(context.Context) string {
			alive(t, c)
			code, body, err := httpGet("http://" + c.healthAddr + "/readyz")
			if err != nil || code == 200 || !strings.Contains(body, "rejected our credentials") {
				return fmt.Sprintf("%d %q %v", code, body, err)
			}
			return ""
		})
		logSays(t, c, 10*time.Second, "The API server rejected our credentials (401 Unauthorized)")
		// Let the informers' backoff settle, then count what they ask.
		time.Sleep(20 * time.Second)
		before := insecureMetrics(t, c)
		if v := metricValue(before, "daemonset_controller_api_credentials_rejected "); v != 1 {
			t.Errorf("daemonset_controller_api_credentials_rejected = %v, want 1", v)
		}
		const window = 30 * time.Second
		time.Sleep(window)
		alive(t, c)
		after := insecureMetrics(t, c)
		rejected := metricValue(after, `rest_client_requests_total{code="401"`) - metricValue(before, `rest_client_requests_total{code="401"`)
		refused := metricValue(after, `daemonset_controller_api_requests_refused_total{code="401"`) - metricValue(before, `daemonset_controller_api_requests_refused_total{code="401"`)
		t.Logf("%v requests rejected with 401 in %v (%v counted as refused)", rejected, window, refused)
		if rejected == 0 || math.Abs(refused-rejected) > 1 { // ±1: a request in flight while scraping
			t.Errorf("rest_client_requests_total counted %v rejected requests, daemonset_controller_api_requests_refused_total %v: want the same, > 0", rejected, refused)
		}
		if rejected > window.Seconds() {
			t.Errorf("%v requests in %v: a hot loop", rejected, window)
		}
		code, body, _ := httpGet("http://" + c.healthAddr + "/healthz")
		t.Logf("/healthz: %d %s", code, body)
		data, _ := os.ReadFile(c.Log)
		if n := strings.Count(string(data), "The API server rejected our credentials"); n != 1 {
			t.Errorf("the log says %d times that the credentials were rejected, want once", n)
		}
		noTrace(t, c)
	})
}

// TestCredentialsForbiddenCreate: RBAC forbids creating pods. The
// controller keeps running and ready; each DaemonSet that needs pods gets a
// FailedCreate event naming the forbidden action; creation errors count in
// daemonset_controller_pods_created_total{result="error"} and the refused
// request in daemonset_controller_api_requests_refused_total; and retries
// back off (a handful of attempts a minute, not a hot loop).
func TestCredentialsForbiddenCreate(t *testing.T) {
	ctx := context.Background()
	withoutRealController(t)
	kc := credAccount(t, "no-create", without(controllerRules(t), "", "pods", "create"))
	nodes := []string{"forbid-create-1", "forbid-create-2"}
	isolatedNodes(t, "forbid-create", nodes)
	createNamespace(t, "forbid-create")
	ds := createDaemonSet(t, simpleDaemonSet("forbid-create", "agent", "forbid-create"))
	t.Cleanup(func() {
		_ = tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	})
	c := credController(t, "no-create", kc)
	waitReady(t, c)
	var message string
	eventually(t, time.Minute, "a FailedCreate event naming the forbidden action", func(ctx context.Context) string {
		alive(t, c)
		list, err := tb.Client.CoreV1().Events(ds.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + ds.Name + ",reason=FailedCreate",
		})
		if err != nil || len(list.Items) == 0 {
			return fmt.Sprint("no event yet ", err)
		}
		message = list.Items[0].Message
		return ""
	})
	t.Logf("FailedCreate: %s", message)
	for _, w := range []string{`system:serviceaccount:` + credNS + `:no-create`, `cannot create resource "pods"`, `in the namespace "forbid-create"`} {
		if !strings.Contains(message, w) {
			t.Errorf("the event does not say %q", w)
		}
	}
	// Let the first quick retries pass, then count attempts over a window.
	time.Sleep(10 * time.Second)
	before := scrape(t, c)
	const window = 45 * time.Second
	time.Sleep(window)
	alive(t, c)
	after := scrape(t, c)
	failed := metricValue(after, `daemonset_controller_pods_created_total{result="error"}`)
	attempts := failed - metricValue(before, `daemonset_controller_pods_created_total{result="error"}`)
	refused := metricValue(after, `daemonset_controller_api_requests_refused_total{code="403",resource="pods",verb="create"}`)
	t.Logf("%v failed creations in all, %v in %v; %v refused creations counted", failed, attempts, window, refused)
	if failed == 0 || math.Abs(refused-failed) > 1 { // ±1: a request in flight while scraping
		t.Errorf("pods_created_total{result=\"error\"} = %v, api_requests_refused_total{create pods} = %v: want the same, > 0", failed, refused)
	}
	if attempts > 6 {
		t.Errorf("%v creation attempts in %v: no backoff", attempts, window)
	}
	if n := countEvents(ctx, ds, "FailedCreate"); float64(n) > failed {
		t.Errorf("%d FailedCreate events for %v failed creations", n, failed)
	}
	if byNode, err := daemonPods(ctx, ds); err != nil || len(byNode) != 0 {
		t.Errorf("pods by node: %v (%v), want none", podNames(byNode), err)
	}
	if code, body, err := httpGet("http://" + c.healthAddr + "/readyz"); err != nil || code != 200 {
		t.Errorf("/readyz: %d %s %v, want 200: it works, RBAC refuses one action", code, body, err)
	}
	noTrace(t, c)
}

// TestCredentialsForbiddenWatch: RBAC forbids listing and watching nodes,
// so the informer caches never sync. The controller keeps running, never
// becomes ready, says what is forbidden on /readyz and in its log, does
// nothing (no sync, so no pod is made from a partial view), counts the
// refused requests and retries with backoff. Once RBAC grants it, the
// caches sync and it works, without a restart.
func TestCredentialsForbiddenWatch(t *testing.T) {
	ctx := context.Background()
	withoutRealController(t)
	rules := controllerRules(t)
	kc := credAccount(t, "no-nodes", without(rules, "", "nodes", "list", "watch"))
	nodes := []string{"forbid-watch-1"}
	isolatedNodes(t, "forbid-watch", nodes)
	createNamespace(t, "forbid-watch")
	ds := createDaemonSet(t, simpleDaemonSet("forbid-watch", "agent", "forbid-watch"))
	t.Cleanup(func() {
		_ = tb.Client.AppsV1().DaemonSets(ds.Namespace).Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	})
	c := credController(t, "no-nodes", kc)
	eventually(t, 30*time.Second, "/readyz naming the forbidden nodes", func(context.Context) string {
		alive(t, c)
		code, body, err := httpGet("http://" + c.healthAddr + "/readyz")
		if err != nil || code == 200 || !strings.Contains(body, "nodes") || !strings.Contains(body, "forbidden") {
			return fmt.Sprintf("%d %q %v", code, body, err)
		}
		t.Logf("/readyz: %s", body)
		return ""
	})
	line := logSays(t, c, 45*time.Second, "Still waiting for informer caches to sync", "nodes", "forbidden")
	t.Logf("log: %s", line)
	time.Sleep(15 * time.Second)
	before := scrape(t, c)
	const window = 30 * time.Second
	time.Sleep(window)
	alive(t, c)
	after := scrape(t, c)
	refused := metricValue(after, `daemonset_controller_api_requests_refused_total{code="403",resource="nodes"`)
	recent := refused - metricValue(before, `daemonset_controller_api_requests_refused_total{code="403",resource="nodes"`)
	t.Logf("%v refused node requests in all, %v in %v", refused, recent, window)
	if refused == 0 {
		t.Error("no refused node request counted")
	}
	if recent > 10 {
		t.Errorf("%v refused node requests in %v: no backoff", recent, window)
	}
	if n := metricValue(after, "daemonset_controller_syncs_total"); n != 0 {
		t.Errorf("%v syncs without a node cache", n)
	}
	if code, _, _ := httpGet("http://" + c.healthAddr + "/readyz"); code == 200 {
		t.Error("/readyz: 200 without a node cache")
	}
	noTrace(t, c)

	// Grant it: the informer's next retry (at most 30 s apart) syncs.
	_, err := tb.Client.RbacV1().ClusterRoles().Update(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "credentials-no-nodes"}, Rules: rules}, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitReadyWithin(t, c, time.Minute)
	eventually(t, time.Minute, "the pod placed", func(ctx context.Context) string { return placedExactly(ctx, ds, nodes) })
}

// waitReadyWithin waits for a controller's /readyz.
func waitReadyWithin(t *testing.T, c *controllerProc, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, c.Name+" ready", func(context.Context) string {
		alive(t, c)
		if code, body, err := httpGet("http://" + c.healthAddr + "/readyz"); err != nil || code != 200 {
			return fmt.Sprint(code, body, err)
		}
		return ""
	})
}
