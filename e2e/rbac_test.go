package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

// unusedOnPurpose lists grants the e2e run cannot exercise, and why.
var unusedOnPurpose = map[string]string{
	"apps/daemonsets/finalizers:update": "checked by the OwnerReferencesPermissionEnforcement admission plugin, never called",
	"apps/controllerrevisions:get":      "read only after a create conflict, i.e. a hash collision",
	// Informers stream their initial list over a watch (client-go's
	// WatchListClient); list is their fallback on API servers without it.
	"apps/daemonsets:list":                   "informer fallback",
	"apps/controllerrevisions:list":          "informer fallback",
	"pods:list":                              "informer fallback",
	"nodes:list":                             "informer fallback",
	"scheduling.k8s.io/priorityclasses:list": "informer fallback",
}

// checkRBAC compares what manifests/rbac.yaml grants the controller with
// what it did during the run, from the API server's audit log: a grant
// that was never used fails the run (least privilege), and so does a
// request that was refused.
func checkRBAC() error {
	granted, err := grantedVerbs()
	if err != nil {
		return err
	}
	used, refused, err := usedVerbs()
	if err != nil {
		return err
	}
	var problems []string
	for g := range granted {
		if !used[g] && unusedOnPurpose[g] == "" {
			problems = append(problems, "granted but never used: "+g)
		}
	}
	for _, r := range refused {
		problems = append(problems, "refused: "+r)
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return fmt.Errorf("manifests/rbac.yaml does not match what the controller does:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// grantedVerbs expands the controller's ClusterRole and Role into
// "group/resource:verb" strings.
func grantedVerbs() (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(tb.Root, "manifests", "rbac.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, err
		}
		var rules []rbacv1.PolicyRule
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			if o.Name == "daemonset-controller" {
				rules = o.Rules
			}
		case *rbacv1.Role:
			rules = o.Rules
		}
		for _, r := range rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						if v == "*" || res == "*" || g == "*" {
							return nil, fmt.Errorf("wildcard in rule %v", r)
						}
						out[grant(g, res, v)] = true
					}
				}
			}
		}
	}
	return out, nil
}

func grant(group, resource, verb string) string {
	if group == "" {
		return resource + ":" + verb
	}
	return group + "/" + resource + ":" + verb
}

type auditEvent struct {
	Verb      string `json:"verb"`
	Stage     string `json:"stage"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
		Namespace   string `json:"namespace"`
	} `json:"objectRef"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestURI string    `json:"requestURI"`
	UserAgent  string    `json:"userAgent"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	// Annotations hold the authorizer's decision ("allow" or "forbid").
	Annotations map[string]string `json:"annotations"`
}

func usedVerbs() (map[string]bool, []string, error) {
	f, err := os.Open(tb.AuditLog)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	used := map[string]bool{}
	var refused []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.User.Username != bed.ControllerUser || e.ObjectRef == nil {
			continue
		}
		res := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			res += "/" + e.ObjectRef.Subresource
		}
		g := grant(e.ObjectRef.APIGroup, res, e.Verb)
		used[g] = true
		// Refused by RBAC, that is: admission answers 403 too (an exceeded
		// quota, a namespace being deleted), which no grant could avoid.
		if e.Annotations["authorization.k8s.io/decision"] == "forbid" {
			refused = append(refused, g+" "+e.RequestURI)
		}
	}
	return used, refused, sc.Err()
}

// TestAdoptAndRelease: an orphan pod and an orphan ControllerRevision that
// match the selector are adopted; a pod whose labels stop matching is
// released and replaced.
func TestAdoptAndRelease(t *testing.T) {
	ctx := context.Background()
	isolatedNodes(t, "adopt", []string{"adopt-1", "adopt-2"})
	createNamespace(t, "adopt")
	ds := simpleDaemonSet("adopt", "agent", "adopt")
	// OnDelete: an adopted pod lacks the revision hash, so a RollingUpdate
	// would (rightly, as upstream does) replace it at once.
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	orphan := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "adopt", Labels: ds.Spec.Template.Labels},
		Spec:       *ds.Spec.Template.Spec.DeepCopy(),
	}
	orphan.Spec.NodeName = "adopt-1"
	if _, err := tb.Client.CoreV1().Pods("adopt").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-orphan", Namespace: "adopt", Labels: ds.Spec.Template.Labels},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace"}}}`)},
		Revision:   1,
	}
	if _, err := tb.Client.AppsV1().ControllerRevisions("adopt").Create(ctx, rev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ds = createDaemonSet(t, ds)
	eventually(t, time.Minute, "the orphans adopted and one pod per node", func(ctx context.Context) string {
		p, err := tb.Client.CoreV1().Pods("adopt").Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil || !metav1.IsControlledBy(p, ds) {
			return "the orphan pod is not adopted"
		}
		r, err := tb.Client.AppsV1().ControllerRevisions("adopt").Get(ctx, "agent-orphan", metav1.GetOptions{})
		if err != nil || !metav1.IsControlledBy(r, ds) {
			return "the orphan revision is not adopted"
		}
		return placedExactly(ctx, ds, []string{"adopt-1", "adopt-2"})
	})
	patch := []byte(`{"metadata":{"labels":{"app":"someone-else"}}}`)
	if _, err := tb.Client.CoreV1().Pods("adopt").Patch(ctx, "orphan", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the relabelled pod released and replaced", func(ctx context.Context) string {
		p, err := tb.Client.CoreV1().Pods("adopt").Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil || metav1.GetControllerOf(p) != nil {
			return "the relabelled pod still has a controller"
		}
		return placedExactly(ctx, ds, []string{"adopt-1", "adopt-2"})
	})
	if err := tb.Client.CoreV1().Pods("adopt").Delete(ctx, "orphan", metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
}
