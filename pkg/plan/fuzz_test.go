package plan

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// byteReader hands out bytes of fuzz data, then zeros.
type byteReader struct {
	data []byte
	pos  int
}

func (r *byteReader) next() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

// fuzzInput builds an Input from data: up to 5 nodes of four kinds
// (eligible, ineligible, NoSchedule- and NoExecute-tainted) and up to 12
// pods, each for a known node or one of two unknown ones, in any phase,
// bound or pending, terminating or not, of the new or an old revision,
// ready or not.
func fuzzInput(data []byte, surge bool) Input {
	r := &byteReader{data: data}
	var nodes []*v1.Node
	for i := range int(r.next() % 6) {
		name := fmt.Sprintf("n%d", i)
		switch r.next() % 4 {
		case 0:
			nodes = append(nodes, eligible(name))
		case 1:
			nodes = append(nodes, ineligible(name))
		case 2:
			nodes = append(nodes, tainted(name, v1.TaintEffectNoSchedule))
		default:
			nodes = append(nodes, tainted(name, v1.TaintEffectNoExecute))
		}
	}
	var pods []*v1.Pod
	for i := range int(r.next() % 13) {
		target := int(r.next()) % (len(nodes) + 2)
		node := fmt.Sprintf("n%d", target)
		if target >= len(nodes) {
			node = fmt.Sprintf("gone%d", target-len(nodes))
		}
		flags := r.next()
		opts := []podOpt{created(time.Duration(r.next()%4) * time.Second)}
		if flags&1 != 0 {
			opts = append(opts, pending)
		}
		opts = append(opts, phase([]v1.PodPhase{v1.PodRunning, v1.PodPending, v1.PodFailed, v1.PodSucceeded}[flags>>1&3]))
		if flags&8 != 0 {
			opts = append(opts, terminating)
		}
		if flags&16 != 0 {
			opts = append(opts, hash(oldHash))
		}
		switch flags >> 5 & 3 {
		case 1:
			opts = append(opts, notReady)
		case 2:
			opts = append(opts, readySince(0))
		case 3:
			opts = append(opts, readySince(59*time.Minute))
		}
		pods = append(pods, pod(fmt.Sprintf("p%d", i), node, opts...))
	}
	return Input{
		Nodes: nodes, PodsByNode: byNode(pods...), Placement: checker(),
		Hash: newHash, Surge: surge, MinReadySeconds: int32(r.next() % 3 * 60), Now: base.Add(time.Hour),
	}
}

func live(p *v1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != v1.PodFailed && p.Status.Phase != v1.PodSucceeded
}

// FuzzCompute checks the plan's invariants on generated clusters: every pod
// is listed at most once and only if it is not already terminating; a pod
// is created only on a known node that should run one and has no live pod
// (no pod at all, unless surging); and after the plan at most one live pod
// (two when surging) stays on a node.
func FuzzCompute(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte{3, 0, 1, 2, 6, 0, 0, 0, 1, 1, 0, 2, 4, 0, 3, 8, 0, 4, 16, 1, 5, 64}, false)
	f.Add([]byte{3, 0, 1, 2, 6, 0, 0, 0, 1, 1, 0, 2, 4, 0, 3, 8, 0, 4, 16, 1, 5, 64}, true)
	f.Add([]byte{2, 0, 0, 8, 0, 80, 0, 0, 64, 1, 0, 16, 2, 1, 96, 3, 1, 1, 0}, true)
	f.Add([]byte{5, 0, 1, 2, 3, 0, 12, 0, 0, 0, 0, 0, 1, 0, 3, 1, 9, 2, 2, 5, 0, 3, 7, 1, 4, 11, 2, 5, 13, 0, 6, 0, 1}, false)
	f.Add([]byte{5, 0, 1, 2, 3, 0, 12, 0, 0, 0, 0, 0, 1, 0, 3, 1, 9, 2, 2, 5, 0, 3, 7, 1, 4, 11, 2, 5, 13, 0, 6, 0, 1}, true)
	f.Add([]byte{1, 0, 4, 0, 80, 0, 0, 64, 1, 0, 16, 3, 0, 48, 2, 1}, true)
	f.Fuzz(func(t *testing.T, data []byte, surge bool) {
		in := fuzzInput(data, surge)
		p := Compute(in)

		known := map[string]*v1.Node{}
		for _, n := range in.Nodes {
			known[n.Name] = n
		}
		inInput := map[*v1.Pod]string{}
		for node, pods := range in.PodsByNode {
			for _, pod := range pods {
				inInput[pod] = node
			}
		}

		listed := map[*v1.Pod]string{}
		for what, pods := range map[string][]*v1.Pod{"Delete": p.Delete, "Failed": p.Failed, "Succeeded": p.Succeeded, "Lost": p.Lost} {
			for _, pod := range pods {
				if prev, dup := listed[pod]; dup {
					t.Fatalf("pod %s listed twice: in %s and %s", pod.Name, prev, what)
				}
				listed[pod] = what
				if _, ok := inInput[pod]; !ok {
					t.Fatalf("%s lists pod %s that is not in the input", what, pod.Name)
				}
				if pod.DeletionTimestamp != nil {
					t.Fatalf("%s lists terminating pod %s", what, pod.Name)
				}
			}
		}
		for _, pod := range p.Lost {
			if pod.Spec.NodeName == "" || known[pod.Spec.NodeName] != nil {
				t.Fatalf("Lost lists pod %s for node %q, which is unbound or known", pod.Name, pod.Spec.NodeName)
			}
		}

		created := map[string]bool{}
		for _, name := range p.CreateOn {
			if created[name] {
				t.Fatalf("CreateOn lists node %s twice", name)
			}
			created[name] = true
			node := known[name]
			if node == nil {
				t.Fatalf("CreateOn lists unknown node %s", name)
			}
			if !in.Placement.Check(node).ShouldRun {
				t.Fatalf("CreateOn lists node %s that should not run a pod", name)
			}
			for _, pod := range in.PodsByNode[name] {
				if live(pod) {
					t.Fatalf("CreateOn lists node %s that has live pod %s", name, pod.Name)
				}
				if !surge {
					t.Fatalf("CreateOn lists node %s that has pod %s while not surging", name, pod.Name)
				}
			}
		}

		limit := 1
		if surge {
			limit = 2
		}
		for name := range known {
			remaining := 0
			for _, pod := range in.PodsByNode[name] {
				if _, gone := listed[pod]; !gone && live(pod) {
					remaining++
				}
			}
			if remaining > limit {
				t.Fatalf("node %s keeps %d live pods, want at most %d", name, remaining, limit)
			}
		}
	})
}
