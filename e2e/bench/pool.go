package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Pooling: on two cores a 100-node pair's ratio spreads so widely that no
// batch of a few dozen pairs decides the plain-client target, while
// batches of the same code agree. -pool reads the pair tables of earlier
// reports and gives the verdict over all their pairs, with the same
// median and interval as one report's.

// pooledPair is one row of a report's pair table.
type pooledPair struct {
	nodes       int
	plain, ours float64 // seconds to all pods created
}

// readPairs returns the rows of the pair table ("| nodes | pair | first |
// plain client (s) | ours (s) | ...") in the report at path.
func readPairs(path string) ([]pooledPair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ps []pooledPair
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| nodes | pair | first |") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		p, err := parsePairRow(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no pair table (a report of -plain-pairs 2 or more has one)", path)
	}
	return ps, nil
}

func parsePairRow(line string) (pooledPair, error) {
	cells := strings.Split(strings.Trim(line, "| "), "|")
	if len(cells) < 5 {
		return pooledPair{}, fmt.Errorf("pair row %q: want at least 5 cells", line)
	}
	var p pooledPair
	var err error
	if p.nodes, err = strconv.Atoi(strings.TrimSpace(cells[0])); err != nil {
		return p, fmt.Errorf("pair row %q: nodes: %w", line, err)
	}
	if p.plain, err = strconv.ParseFloat(strings.TrimSpace(cells[3]), 64); err != nil {
		return p, fmt.Errorf("pair row %q: plain client: %w", line, err)
	}
	if p.ours, err = strconv.ParseFloat(strings.TrimSpace(cells[4]), 64); err != nil {
		return p, fmt.Errorf("pair row %q: ours: %w", line, err)
	}
	if p.plain <= 0 || p.ours <= 0 {
		return p, fmt.Errorf("pair row %q: times must be positive", line)
	}
	return p, nil
}

// poolReports is the verdict table over every pair of the reports, by
// node count.
func poolReports(paths []string) (string, error) {
	byNodes := map[int][]pooledPair{}
	seen := map[string]bool{}
	for _, path := range paths {
		if seen[filepath.Clean(path)] {
			return "", fmt.Errorf("%s is named twice: its pairs would count twice", path)
		}
		seen[filepath.Clean(path)] = true
		ps, err := readPairs(path)
		if err != nil {
			return "", err
		}
		for _, p := range ps {
			byNodes[p.nodes] = append(byNodes[p.nodes], p)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Pooled over %d reports: %s\n\n", len(paths), strings.Join(paths, ", "))
	fmt.Fprintf(&b, "| nodes | pairs | ratio, median | 95%% interval | verdict | ratio of the median times |\n|---|---|---|---|---|---|\n")
	for _, n := range slices.Sorted(maps.Keys(byNodes)) {
		ps := byNodes[n]
		ratios, plain, ours := make([]float64, len(ps)), make([]float64, len(ps)), make([]float64, len(ps))
		for i, p := range ps {
			ratios[i], plain[i], ours[i] = p.plain/p.ours, p.plain, p.ours
		}
		interval, verdict := plainVerdict(ratios)
		fmt.Fprintf(&b, "| %d | %d | **%.1f%%** | %s | %s | %.1f%% |\n", n, len(ps), 100*median(ratios), interval, verdict, 100*median(plain)/median(ours))
	}
	return b.String(), nil
}
