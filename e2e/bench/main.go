// Command bench measures our DaemonSet controller against
// kube-controller-manager's built-in one, side by side on the same test bed
// and workload, and writes a markdown report and PNG charts.
//
//	go run . -nodes 100,1000 -out ../../docs/benchmarks
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daemonset-controller/daemonset-controller/e2e/bed"
)

func main() {
	nodes := flag.String("nodes", "100,1000", "node counts for the rollout benchmark")
	newNodes := flag.Int("new-nodes", 100, "nodes added at once in the new-nodes benchmark")
	baseNodes := flag.Int("base-nodes", 1000, "nodes for the rolling update")
	newBase := flag.Int("new-nodes-base", 1000, "nodes before the new ones arrive, in the new-nodes benchmark")
	daemonSets := flag.Int("daemonsets", 20, "DaemonSets in the new-nodes benchmark")
	busy := flag.Bool("busy", true, "also measure the rollout with 200 readiness flips per second")
	quiet := flag.Bool("quiet", true, "measure the rollout on a quiet bed (with -busy=false and -quiet=false, no rollout runs)")
	out := flag.String("out", "docs/benchmarks", "where the report and charts go")
	only := flag.String("only", "", "run only these benchmarks (comma list of rollout,newnodes,update)")
	limitNames := flag.String("limits", "default,raised", "client limits to run with (comma list of default,raised)")
	flag.StringVar(&profileDir, "profile", "", "if set, save CPU profiles here from the start of each rollout: our controller's, and the API server's for every controller (the plain client included)")
	flag.IntVar(&profileSeconds, "profile-seconds", 10, "length of each CPU profile")
	flag.DurationVar(&restFor, "rest", 0, "if set, also measure each controller's CPU over this long after its rollout is Ready (5 s later), with only node heartbeats flowing")
	flag.StringVar(&logDir, "logs", "", "if set, keep each run's controller log here (kube-controller-manager's for the built-in), and each rollout's audit log of the pod creations")
	flag.IntVar(&plainWorkers, "plain-workers", 64, "creations the plain client keeps in flight")
	pairs := flag.Int("plain-pairs", 1, "pairs of runs, the plain client's and ours (raised limits, quiet bed), per node count; the order alternates, and with more than one the report gives the median of the pairs' ratios")
	extra := flag.String("ours-args", "", "extra flags for our controller, space-separated (for experiments)")
	controllers := flag.String("controllers", "ours,built-in,plain", "controllers to run (comma list of ours,built-in,plain: the plain-client baseline, at raised limits)")
	idle := flag.Bool("idle-ours", false, "in each pair, also run the plain client with our controller idle in its bed (watching, with no DaemonSet): what a controller that only watches costs the plain client's rate")
	pool := flag.String("pool", "", "instead of running, print the verdict on the plain client's target over every pair of these reports (comma list of report files, each from a run with -plain-pairs 2 or more)")
	flag.Parse()
	if *pool != "" {
		table, err := poolReports(strings.Split(*pool, ","))
		check(err)
		fmt.Print(table)
		return
	}
	oursArgs = strings.Fields(*extra)
	if plainWorkers < 1 {
		log.Fatalf("-plain-workers must be at least 1, got %d", plainWorkers)
	}
	ctrls := strings.Split(*controllers, ",")
	plain := slices.Contains(ctrls, "plain") && strings.Contains(*limitNames, "raised")
	want := func(name string) bool { return *only == "" || strings.Contains(*only, name) }
	// Pairs need ours' quiet run at raised limits: the run each plain one is
	// compared with.
	paired := want("rollout") && plain && slices.Contains(ctrls, "ours") && *quiet
	switch {
	case *pairs < 1:
		log.Fatalf("-plain-pairs must be at least 1, got %d", *pairs)
	case *pairs > 1 && !paired:
		log.Fatalf("-plain-pairs %d needs the rollout, the plain client and ours, raised limits and a quiet bed (-only, -controllers, -limits, -quiet)", *pairs)
	case *idle && !paired:
		log.Fatalf("-idle-ours needs the rollout, the plain client and ours, raised limits and a quiet bed (-only, -controllers, -limits, -quiet)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var counts []int
	for _, s := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("bad -nodes: %v", err)
		}
		counts = append(counts, n)
	}
	r := &report{Started: time.Now()}
	// The plain client is the baseline for raised limits only. Paired with
	// it, ours' quiet run at raised limits is measured here, not below.
	if want("rollout") && plain {
		for _, n := range counts {
			for i := 0; i < *pairs; i++ {
				if *pairs > 1 {
					runTag = fmt.Sprintf("-pair%d", i+1)
				}
				p, err := runPair(ctx, n, i, paired, *idle)
				check(err)
				r.Pairs = append(r.Pairs, p)
				for _, res := range []rolloutResult{p.Plain, p.Ours, p.Beside} {
					if res.Controller == "" {
						continue
					}
					log.Printf("rollout %s", res)
					check(writeRolloutTimeline(*out, res))
					// The tables have one run per configuration; with
					// several pairs the verdict is writePairs' median.
					if i == 0 {
						r.Rollouts = append(r.Rollouts, res)
					}
				}
				if paired {
					log.Printf("pair %d of %d at %d nodes: ours reaches %.0f%% of the plain client's rate", i+1, *pairs, n, 100*p.ratio())
				}
				if *idle {
					log.Printf("pair %d of %d at %d nodes: beside our idle controller, the plain client reaches %.0f%% of its rate alone", i+1, *pairs, n, 100*p.besideRatio())
				}
			}
			runTag = ""
		}
	}
	for _, lim := range limitsAll {
		if !strings.Contains(*limitNames, strings.Fields(lim.Name)[0]) {
			continue
		}
		for _, ctrl := range controllersAll {
			if !slices.Contains(ctrls, ctrl.Name) {
				continue
			}
			if want("rollout") {
				for _, n := range counts {
					for _, b := range []bool{false, true} {
						if (b && !*busy) || (!b && !*quiet) || r.find(ctrl.Name, lim.Name, n, b) != nil {
							continue
						}
						res, err := runRollout(ctx, ctrl, lim, n, b)
						check(err)
						r.Rollouts = append(r.Rollouts, res)
						log.Printf("rollout %s", res)
						check(writeRolloutTimeline(*out, res))
					}
				}
			}
			if want("newnodes") {
				res, err := runNewNodes(ctx, ctrl, lim, *newBase, *newNodes, *daemonSets)
				check(err)
				r.NewNodes = append(r.NewNodes, res)
				log.Printf("new nodes %s", res)
			}
			if want("update") {
				res, err := runUpdate(ctx, ctrl, lim, *baseNodes)
				check(err)
				r.Updates = append(r.Updates, res)
				log.Printf("update %s", res)
				check(writeTimeline(*out, timelineName("update", res.Controller, res.Limits), res.Timeline))
			}
		}
	}
	r.Machine = fmt.Sprintf("%s/%s, %d cores, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	check(os.MkdirAll(*out, 0o755))
	check(r.write(*out))
	log.Printf("wrote %s", filepath.Join(*out, "README.md"))
}

func writeRolloutTimeline(dir string, r rolloutResult) error {
	rest := []string{strconv.Itoa(r.Nodes)}
	if r.Busy {
		rest = append(rest, "busy")
	}
	if runTag != "" {
		rest = append(rest, strings.TrimPrefix(runTag, "-"))
	}
	return writeTimeline(dir, timelineName("rollout", r.Controller, r.Limits, rest...), r.Timeline)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// A controller under test.
type controller struct {
	Name string
	// start runs it against the bed with the given client limits and
	// returns the process to measure.
	start func(ctx context.Context, b *bed.Bed, lim limits) (*bed.Proc, error)
}

type limits struct {
	Name       string
	QPS, Burst int
}

var limitsAll = []limits{{"default (QPS 20, burst 30)", 20, 30}, raised}

// raised are the limits at which the API server is the bottleneck, and
// the plain client's.
var raised = limits{"raised (QPS 1000, burst 2000)", 1000, 2000}

var controllersAll = []controller{
	{Name: "ours", start: startOurs},
	{Name: "built-in", start: startBuiltin},
}

func controllerNamed(name string) controller {
	i := slices.IndexFunc(controllersAll, func(c controller) bool { return c.Name == name })
	return controllersAll[i]
}

func startOurs(ctx context.Context, b *bed.Bed, lim limits) (*bed.Proc, error) {
	bin, err := b.BuildController(ctx)
	if err != nil {
		return nil, err
	}
	health := "0"
	if profileDir != "" {
		port, err := bed.FreePort()
		if err != nil {
			return nil, err
		}
		health = fmt.Sprintf("127.0.0.1:%d", port)
		profileAddr = health
	}
	args := []string{"--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=" + health, "--profiling=" + strconv.FormatBool(profileDir != ""),
		fmt.Sprintf("--kube-api-qps=%d", lim.QPS), fmt.Sprintf("--kube-api-burst=%d", lim.Burst)}
	return b.StartController(bin, "daemonset-controller", b.Kubeconfig, append(args, oursArgs...)...)
}

// oursArgs are extra flags for our controller (-ours-args), for
// experiments such as another --burst-replicas.
var oursArgs []string

// profileDir and profileAddr: where CPU profiles go, and the health
// address of our running controller (set by startOurs).
var profileDir, profileAddr string

var profileSeconds int

// apiserverProfile saves a CPU profile of b's API server over the next
// profileSeconds, in the background, to profileDir/apiserver-name.pprof,
// and returns once the API server has had time to begin it: the same
// window as profile's, for any controller, so that where the API server's
// time goes can be compared between them.
func apiserverProfile(b *bed.Bed, name string) {
	if profileDir == "" {
		return
	}
	go func() {
		raw, err := b.Client.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(profileSeconds)).DoRaw(context.Background())
		if err == nil {
			err = os.MkdirAll(profileDir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(profileDir, "apiserver-"+name+".pprof"), raw, 0o644)
		}
		if err != nil {
			log.Printf("profile of the API server, %s: %v", name, err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
}

// profile saves a CPU profile of our controller over the next
// profileSeconds, in the background, to profileDir/name.pprof.
func profile(name string) {
	if profileDir == "" || profileAddr == "" {
		return
	}
	go func() {
		resp, err := http.Get("http://" + profileAddr + "/debug/pprof/profile?seconds=" + strconv.Itoa(profileSeconds))
		if err != nil {
			log.Printf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			log.Printf("profile %s: %v", name, err)
			return
		}
		f, err := os.Create(filepath.Join(profileDir, name+".pprof"))
		if err != nil {
			log.Printf("profile %s: %v", name, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
}

// startBuiltin runs a kube-controller-manager with only its DaemonSet
// controller, so its CPU and memory are that controller's.
func startBuiltin(_ context.Context, b *bed.Bed, lim limits) (*bed.Proc, error) {
	return b.StartKCM("kcm-daemonset", "daemonset-controller",
		fmt.Sprintf("--kube-api-qps=%d", lim.QPS), fmt.Sprintf("--kube-api-burst=%d", lim.Burst))
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}
