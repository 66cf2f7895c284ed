package history

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rev(name string, n int64) *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: name}},
		Revision:   n,
	}
}

func TestToPrune(t *testing.T) {
	old := []*appsv1.ControllerRevision{rev("r3", 3), rev("r1", 1), rev("r4", 4), rev("r2", 2)}
	cases := []struct {
		name  string
		limit int
		live  map[string]bool
		want  []string
	}{
		{"under the limit", 4, nil, nil},
		{"oldest first", 2, nil, []string{"r1", "r2"}},
		{"live revisions are kept", 2, map[string]bool{"r1": true}, []string{"r2", "r3"}},
		{"all live", 0, map[string]bool{"r1": true, "r2": true, "r3": true, "r4": true}, nil},
		{"limit zero", 0, nil, []string{"r1", "r2", "r3", "r4"}},
		{"negative limit acts as zero", -1, nil, []string{"r1", "r2", "r3", "r4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range ToPrune(old, tc.limit, tc.live) {
				got = append(got, r.Name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("pruned %v, want %v", got, tc.want)
			}
		})
	}
}
