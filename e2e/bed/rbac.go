package bed

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubectl runs the bed's kubectl as the administrator.
func (b *Bed) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(b.Tools, "kubectl"),
		append([]string{"--kubeconfig=" + b.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w: %s", args, err, out)
	}
	return out, nil
}

// ApplyManifests applies the repository's kustomize base (manifests/) for
// real, server-side validated, as an operator would.
func (b *Bed) ApplyManifests(ctx context.Context) error {
	_, err := b.Kubectl(ctx, "apply", "--server-side", "-k", filepath.Join(b.Root, "manifests"))
	return err
}

// TokenKubeconfig writes a kubeconfig that authenticates with a fresh
// token of the service account namespace/name.
func (b *Bed) TokenKubeconfig(ctx context.Context, namespace, name string) (path, token string, err error) {
	day := int64(24 * 3600)
	tok, err := b.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &day}}, metav1.CreateOptions{})
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(b.Dir, name+".kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bed"] = &clientcmdapi.Cluster{Server: b.Config.Host, CertificateAuthority: b.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: name}
	cfg.CurrentContext = "bed"
	return path, tok.Status.Token, clientcmd.WriteToFile(*cfg, path)
}

// ControllerKubeconfig applies manifests/ and returns a kubeconfig with a
// token of the controller's service account, so the controller runs with
// exactly the rights the deployment grants it, not as an administrator.
func (b *Bed) ControllerKubeconfig(ctx context.Context) (string, error) {
	if err := b.ApplyManifests(ctx); err != nil {
		return "", err
	}
	path, _, err := b.TokenKubeconfig(ctx, "kube-system", "daemonset-controller")
	return path, err
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) { return freePort() }
