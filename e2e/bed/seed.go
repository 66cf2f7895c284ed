package bed

import (
	_ "embed"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

//go:embed fluentd-elasticsearch.yaml
var seedYAML []byte

// NeverReadyImage marks an image whose pods run but never turn Ready.
const NeverReadyImage = "NEVERREADY"

//go:embed never-ready-stage.yaml
var neverReadyStage []byte

// SeedDaemonSet returns the seed's fluentd-elasticsearch DaemonSet
// (apps/v1, namespace my-kube).
func SeedDaemonSet() (*appsv1.DaemonSet, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(seedYAML, nil, nil)
	if err != nil {
		return nil, err
	}
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil, fmt.Errorf("seed is a %T, not a DaemonSet", obj)
	}
	return ds, nil
}
