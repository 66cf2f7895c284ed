package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

// TestMedianInterval: the interval's ranks are those of the binomial
// tables (n = 6: the extremes; 10: 2nd; 20: 6th; 40: 14th), and under 6
// values there is none.
func TestMedianInterval(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{5, 0}, {6, 1}, {10, 2}, {16, 4}, {20, 6}, {40, 14}} {
		xs := make([]float64, tc.n)
		for i := range xs {
			xs[i] = float64(tc.n - i) // descending: the interval must sort them
		}
		lo, hi, ok := medianInterval(xs)
		if ok != (tc.k > 0) {
			t.Fatalf("n=%d: ok = %v, want %v", tc.n, ok, tc.k > 0)
		}
		if ok && (lo != float64(tc.k) || hi != float64(tc.n+1-tc.k)) {
			t.Errorf("n=%d: [%v, %v], want [%d, %d]", tc.n, lo, hi, tc.k, tc.n+1-tc.k)
		}
	}
}

// TestMedianIntervalCovers: over many samples of a known distribution
// (uniform on [0, 1), median 0.5), the interval holds the median as often
// as the binomial says (95.9% at 20 values): at least 95%, as it claims,
// and not so much more that it would be wider than it needs (a k one
// smaller holds it 98.8% of the time).
func TestMedianIntervalCovers(t *testing.T) {
	x := uint64(1)
	next := func() float64 { // a fixed xorshift stream: the test is deterministic
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float64(x>>11) / (1 << 53)
	}
	const trials, n = 20000, 20
	held := 0
	for range trials {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = next()
		}
		if lo, hi, _ := medianInterval(xs); lo <= 0.5 && 0.5 <= hi {
			held++
		}
	}
	if got := float64(held) / trials; got < 0.95 || got > 0.975 || math.IsNaN(got) {
		t.Errorf("the interval held the median in %.3f of %d samples, want 0.95 to 0.975", got, trials)
	}
}

func TestVerdictAt(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0.9, 1.2, "met"},
		{0.7, 0.89, "missed"},
		{0.68, 1.05, "not decided"},
	} {
		if got := verdictAt(tc.lo, tc.hi, plainTarget); got != tc.want {
			t.Errorf("verdictAt(%v, %v) = %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// TestWritePairs: the pairs table has a row for each node count with
// more than one pair that includes ours' run, in the order the pairs ran,
// and none for a single pair or for plain runs alone.
func TestWritePairs(t *testing.T) {
	run := func(ctrl string, n int, created time.Duration) rolloutResult {
		return rolloutResult{Controller: ctrl, Nodes: n, Created: created, First: created / 10}
	}
	r := &report{}
	for i := range 6 { // ours at 0.2 s against the plain client's 0.19 s: 95%
		r.Pairs = append(r.Pairs, pair{Index: i, Plain: run("plain client", 100, 190*time.Millisecond), Ours: run("ours", 100, 200*time.Millisecond)})
	}
	r.Pairs = append(r.Pairs, pair{Plain: run("plain client", 1000, time.Second), Ours: run("ours", 1000, time.Second)},
		pair{Plain: run("plain client", 3000, time.Second)}, pair{Index: 1, Plain: run("plain client", 3000, time.Second)})
	var b strings.Builder
	r.writePairs(&b)
	out := b.String()
	if !strings.Contains(out, "| 100 | 6 | **95%** | 95.0 to 95.0% | met |") {
		t.Errorf("no summary row for 100 nodes, or a wrong one:\n%s", out)
	}
	if !strings.Contains(out, "| 100 | 6 | ours | 0.190 | 0.200 | 95% |") {
		t.Errorf("no row for the 6th pair, which ran ours first:\n%s", out)
	}
	for _, n := range []string{"| 1000 |", "| 3000 |"} {
		if strings.Contains(out, n) {
			t.Errorf("a row for %s nodes, which have one pair or none with ours:\n%s", n, out)
		}
	}
}

// TestWriteBeside: with -idle-ours the pairs table gives the plain
// client's share of its own rate beside our idle controller (a median,
// over the pairs that have that run), each pair's row has its run, and
// -pool still reads the pairs.
func TestWriteBeside(t *testing.T) {
	run := func(ctrl string, created time.Duration) rolloutResult {
		return rolloutResult{Controller: ctrl, Nodes: 100, Created: created, First: created / 10}
	}
	r := &report{}
	for i := range 7 { // the plain client 0.2 s, ours 0.5 s (40%), beside 0.25 s (80%)
		p := pair{Index: i, Plain: run("plain client", 200*time.Millisecond), Ours: run("ours", 500*time.Millisecond)}
		switch i {
		case 0: // 200%, and ours 20% of it: the medians must not move
			p.Beside = run(besideIdle, 100*time.Millisecond)
		case 6: // no beside run: left out of its table, "-" in its row
		default:
			p.Beside = run(besideIdle, 250*time.Millisecond)
		}
		r.Pairs = append(r.Pairs, p)
	}
	var b strings.Builder
	r.writePairs(&b)
	out := b.String()
	for _, want := range []string{
		"| 100 | 6 | **80%** | 80.0 to 200.0% | 80 to 200% | 50% | 0.250 |",
		"| 100 | 2 | ours | 0.200 | 0.500 | 40% | 40% | 0.250 | 80% |",
		"| 100 | 7 | plain client | 0.200 | 0.500 | 40% | 40% | - | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no row %q:\n%s", want, out)
		}
	}
	path := filepath.Join(t.TempDir(), "beside.md")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := poolReports([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "| 100 | 7 | **40.0%** | 40.0 to 40.0% | missed | 40.0% |") {
		t.Errorf("-pool over a report with the beside columns:\n%s", got)
	}

	// The rollout table's row for the first pair's idle run.
	dir := t.TempDir()
	r.Rollouts = []rolloutResult{r.Pairs[1].Plain, r.Pairs[1].Ours, r.Pairs[1].Beside}
	for i := range r.Rollouts {
		r.Rollouts[i].Limits = raised.Name
	}
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "| "+besideIdle+" | 0.25 | 0.00 | 0.00 | 80% of the plain client's rate alone, in pair 1; over all pairs: below |") {
		t.Errorf("no rollout row for the idle run at 80%%:\n%s", readme)
	}

	for i := range r.Pairs {
		r.Pairs[i].Beside = rolloutResult{}
	}
	var without strings.Builder
	r.writePairs(&without)
	if strings.Contains(without.String(), "beside") {
		t.Errorf("pairs without the idle runs mention them:\n%s", without.String())
	}
}

// TestRunOrder: over two pairs, each of the three runs precedes each
// other one once; without the idle runs, the plain client and ours
// alternate.
func TestRunOrder(t *testing.T) {
	before := map[[2]string]int{}
	for i := range 2 {
		order := runOrder(i, true, true)
		if len(order) != 3 {
			t.Fatalf("pair %d runs %v, want three runs", i+1, order)
		}
		for a := range order {
			for _, later := range order[a+1:] {
				before[[2]string{order[a], later}]++
			}
		}
	}
	for _, x := range []string{"plain", "ours", "beside"} {
		for _, y := range []string{"plain", "ours", "beside"} {
			if x != y && before[[2]string{x, y}] != 1 {
				t.Errorf("%s ran before %s in %d of 2 pairs, want 1", x, y, before[[2]string{x, y}])
			}
		}
	}
	if got := fmt.Sprint(runOrder(0, true, false), runOrder(1, true, false), runOrder(0, false, false)); got != "[plain ours] [ours plain] [plain]" {
		t.Errorf("without the idle runs: %s", got)
	}
}

// TestPoolReports: -pool reads back the pair tables writePairs writes and
// decides over all their pairs, by node count, where each report alone
// has too few.
func TestPoolReports(t *testing.T) {
	dir := t.TempDir()
	pairs := func(n, count int, plain, ours time.Duration) []pair {
		var ps []pair
		for i := range count {
			ps = append(ps, pair{Index: i,
				Plain: rolloutResult{Controller: "plain client", Nodes: n, Created: plain},
				Ours:  rolloutResult{Controller: "ours", Nodes: n, Created: ours}})
		}
		return ps
	}
	write := func(name string, ps ...[]pair) string {
		r := &report{}
		for _, p := range ps {
			r.Pairs = append(r.Pairs, p...)
		}
		var b strings.Builder
		b.WriteString("# a report\n\n")
		r.writePairs(&b)
		b.WriteString("## what follows the table\n\n| not | a | pair |\n")
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// 100 nodes: 80% three times, then 85% three times; the median times
	// (0.205 and 0.250 s) give 82.0%, not the median ratio's 82.5%.
	a := write("a.md", pairs(100, 3, 240*time.Millisecond, 300*time.Millisecond))
	b := write("b.md", pairs(1000, 6, time.Second, 800*time.Millisecond), pairs(100, 3, 170*time.Millisecond, 200*time.Millisecond))
	got, err := poolReports([]string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	rows := []string{"| 100 | 6 | **82.5%** | 80.0 to 85.0% | missed | 82.0% |", "| 1000 | 6 | **125.0%** | 125.0 to 125.0% | met | 125.0% |"}
	i100, i1000 := strings.Index(got, rows[0]), strings.Index(got, rows[1])
	if i100 < 0 || i1000 < 0 || i1000 < i100 {
		t.Errorf("pooled table lacks %q then %q:\n%s", rows[0], rows[1], got)
	}
	alone, err := poolReports([]string{a})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(alone, "| 100 | 3 | **80.0%** | - | too few pairs |") {
		t.Errorf("one report of 3 pairs should be too few:\n%s", alone)
	}

	empty := filepath.Join(dir, "empty.md")
	if err := os.WriteFile(empty, []byte("# no pairs here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.md")
	if err := os.WriteFile(bad, []byte("| nodes | pair | first | plain client (s) | ours (s) |\n|---|\n| 100 | 1 | ours | x | 0.2 |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{empty, bad, filepath.Join(dir, "missing.md"), a} {
		if _, err := poolReports([]string{a, path}); err == nil {
			t.Errorf("poolReports with %s after a.md: no error", filepath.Base(path))
		}
	}
}
