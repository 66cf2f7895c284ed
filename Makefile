# daemonset-controller: see README.md.
GO      ?= go
# go.mod's toolchain line (a Go without the standard library's known
# vulnerabilities) applies even where the Go install defaults to "local".
export GOTOOLCHAIN = auto
BIN     := bin/daemonset-controller
E2E_TIMEOUT ?= 45m

.PHONY: all build test unit e2e demo tools lint clean bench chaos fuzz

all: build

## build: the controller binary, into bin/
build:
	$(GO) build -o $(BIN) .

## test: lint, unit tests and end-to-end tests (builds the test bed first)
test: lint unit e2e

## unit: unit tests with the race detector (and the bench's own, which
## is a module of its own)
unit:
	$(GO) test -race -count=1 ./pkg/... .
	cd e2e/bench && $(GO) test -count=1 .

## e2e: end-to-end tests against a real local control plane
e2e: tools
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/...

## chaos: the fault suite at full size (500 nodes, 5 kills per phase, 200
## DaemonSets x 500 nodes); a small version of it runs in `make test`
chaos: tools
	CHAOS=full $(GO) test -count=1 -timeout 120m -v -run 'TestChaos' ./e2e/

## fuzz: each fuzz target for FUZZTIME (the committed seeds run in `make unit`)
FUZZTIME ?= 30s
fuzz:
	@for p in $$($(GO) list ./pkg/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "$$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; \
	done

## demo: the seed's DaemonSet on a local control plane with kwok nodes
demo: tools
	$(GO) run ./e2e/cmd/demo

## bench: ours vs the built-in controller, side by side (not part of test);
## BENCH_ARGS passes flags, e.g. BENCH_ARGS="-nodes 100,1000,3000"
bench: tools
	$(GO) test -run xxx -bench . -benchmem ./pkg/...
	cd e2e/bench && $(GO) run . -out ../../docs/benchmarks $(BENCH_ARGS)

## tools: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
## kubectl and kwok, built once into the user cache (linked at _output/tools)
tools:
	@e2e/tools/build.sh >/dev/null

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e/bench && $(GO) vet .

## clean: remove build output (the test-bed binaries stay cached in
## ~/.cache/daemonset-controller; delete that folder to rebuild them)
clean:
	rm -rf bin _output
	$(GO) clean -testcache
