package bed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ControllerKubeconfig applies manifests/rbac.yaml and writes a kubeconfig
// with a token of its service account, so the controller runs with exactly
// the rights the deployment grants it, not as an administrator.
func (b *Bed) ControllerKubeconfig(ctx context.Context) (string, error) {
	data, err := os.ReadFile(filepath.Join(b.Root, "manifests", "rbac.yaml"))
	if err != nil {
		return "", err
	}
	var sa *v1.ServiceAccount
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			return "", fmt.Errorf("manifests/rbac.yaml: %w", err)
		}
		switch o := obj.(type) {
		case *v1.ServiceAccount:
			sa = o
			_, err = b.Client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = b.Client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = b.Client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("unexpected %T in manifests/rbac.yaml", obj)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return "", err
		}
	}
	if sa == nil {
		return "", fmt.Errorf("manifests/rbac.yaml has no ServiceAccount")
	}
	day := int64(24 * 3600)
	tok, err := b.Client.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &day}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.Dir, "controller.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bed"] = &clientcmdapi.Cluster{Server: b.Config.Host, CertificateAuthority: b.Config.CAFile}
	cfg.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "controller"}
	cfg.CurrentContext = "bed"
	return path, clientcmd.WriteToFile(*cfg, path)
}
