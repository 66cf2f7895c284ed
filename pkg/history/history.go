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
// replaces spec.template, byte-identical to upstream's.
func Patch(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	spec := obj["spec"].(map[string]interface{})
	template := spec["template"].(map[string]interface{})
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

// Matches reports whether rev holds ds's current template.
func Matches(ds *appsv1.DaemonSet, rev *appsv1.ControllerRevision) (bool, error) {
	p, err := Patch(ds)
	if err != nil {
		return false, err
	}
	return bytes.Equal(p, rev.Data.Raw), nil
}

// MaxRevision returns the highest revision number among revs, or 0.
func MaxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}
