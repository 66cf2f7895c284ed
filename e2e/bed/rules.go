package bed

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// RuleGroups extracts spec (the rule groups) from a PrometheusRule file, as
// a Prometheus rule file (JSON, which is YAML) for promtool.
func RuleGroups(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.ToJSON(data)
	if err != nil {
		return nil, err
	}
	var rule struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(js, &rule); err != nil {
		return nil, err
	}
	if rule.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s is a %q, not a PrometheusRule", path, rule.Kind)
	}
	return rule.Spec, nil
}
