// Package history computes the ControllerRevision identity of a DaemonSet's
// pod template exactly as kube-controller-manager does, so revisions and
// pods made by the built-in controller are recognised as ours.
package history

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Hash returns the controller-revision-hash of a pod template: FNV-32a over
// the deep dump of the template, plus the collision count when set.
func Hash(template *v1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template)) //nolint:staticcheck // must equal upstream byte for byte
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Name returns the name of the revision holding ds's template under hash.
func Name(ds *appsv1.DaemonSet, hash string) string { return ds.Name + "-" + hash }

// Patch returns the revision data for ds: a strategic merge patch that
// replaces spec.template, byte-identical to upstream's. Upstream encodes
// the whole DaemonSet and cuts the template out; encoding the template
// alone gives the same bytes (maps marshal with sorted keys) for less.
func Patch(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds.Spec.Template)
	if err != nil {
		return nil, err
	}
	var template map[string]interface{}
	if err := json.Unmarshal(raw, &template); err != nil {
		return nil, err
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

// Matches reports whether rev holds the template whose Patch is patch.
func Matches(patch []byte, rev *appsv1.ControllerRevision) bool {
	return bytes.Equal(patch, rev.Data.Raw)
}

// MaxRevision returns the highest revision number among revs, or 0.
func MaxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}
