// Package serve runs the controller's HTTP endpoints: metrics (HTTPS,
// authenticated and authorised by the API server, like the secure port of
// kube-controller-manager) and health probes.
package serve

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// authCacheTTL bounds how long a review result is reused, so a scraper
// every few seconds costs two API calls per TTL, not per scrape.
const authCacheTTL = 10 * time.Second

// Authorizer lets a request through if its bearer token belongs to a user
// the API server allows to `get` the request's path (a non-resource URL):
// TokenReview, then SubjectAccessReview.
type Authorizer struct {
	client kubernetes.Interface
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	code int // 0 = allowed, else the HTTP status to answer
	at   time.Time
}

// NewAuthorizer returns an Authorizer that asks the API server via client.
func NewAuthorizer(client kubernetes.Interface) *Authorizer {
	return &Authorizer{client: client, now: time.Now, cache: map[[32]byte]cached{}}
}

// Wrap protects h.
func (a *Authorizer) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			http.Error(w, "Unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		if code := a.check(r.Context(), token, r.URL.Path); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *Authorizer) check(ctx context.Context, token, path string) int {
	key := sha256.Sum256([]byte(path + "\x00" + token))
	now := a.now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Sub(c.at) < authCacheTTL {
		a.mu.Unlock()
		return c.code
	}
	a.mu.Unlock()
	code := a.review(ctx, token, path)
	a.mu.Lock()
	if len(a.cache) > 1000 {
		clear(a.cache) // many distinct tokens: start over rather than grow
	}
	a.cache[key] = cached{code: code, at: now}
	a.mu.Unlock()
	return code
}

func (a *Authorizer) review(ctx context.Context, token, path string) int {
	tr, err := a.client.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		klog.FromContext(ctx).Error(err, "TokenReview failed")
		return http.StatusInternalServerError
	}
	if !tr.Status.Authenticated {
		return http.StatusUnauthorized
	}
	u := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: "get"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		klog.FromContext(ctx).Error(err, "SubjectAccessReview failed")
		return http.StatusInternalServerError
	}
	if !sar.Status.Allowed {
		return http.StatusForbidden
	}
	return 0
}
