# Sluice — the two commands a newcomer runs are `make test` (the whole suite) and, once the lab
# lands, `make lab`. Every target installs what it needs through hack/deps.sh and is idempotent.

GO       ?= go
PKGS     ?= ./...
# make test runs privileged tests when it runs as root; set SLUICE_PRIVILEGED_TESTS=0 to skip them.
ifeq ($(shell id -u),0)
SLUICE_PRIVILEGED_TESTS ?= 1
else
SLUICE_PRIVILEGED_TESTS ?= 0
endif
export SLUICE_PRIVILEGED_TESTS
export GOTOOLCHAIN = local
export GOFLAGS = -buildvcs=false

BIN := bin

.PHONY: lab lab-down lab-bin fuzz all build test test-unit test-privileged generate check-generate lint deps deps-build bench clean

all: build

deps:
	hack/deps.sh test

deps-build:
	hack/deps.sh build

## build: compile every package and the binaries under cmd/ into bin/.
build:
	$(GO) build $(PKGS)
	@if [ -d cmd ]; then mkdir -p $(BIN) && $(GO) build -o $(BIN)/ ./cmd/...; fi

## lab: bring up the one-machine lab (so far its control plane: etcd, kube-apiserver and
## kube-controller-manager in a network namespace; nodes and pods arrive with the agent).
lab: deps lab-bin
	@mkdir -p $(BIN) && $(GO) build -o $(BIN)/ ./cmd/sluice-lab
	$(BIN)/sluice-lab up

## lab-down: remove every process, namespace, link and file the lab made.
lab-down:
	@mkdir -p $(BIN) && $(GO) build -o $(BIN)/ ./cmd/sluice-lab
	$(BIN)/sluice-lab down

## lab-bin: build kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module
## proxy into /var/cache/sluice-lab/bin (once; a stamp makes later runs instant).
lab-bin:
	lab/build-kube.sh

## test: everything — lint, generated code up to date, unit tests with -race, privileged tests when root.
test: deps deps-build lint check-generate lab-bin
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-unit: the tests that need no root.
test-unit:
	SLUICE_PRIVILEGED_TESTS=0 $(GO) test -race -count=1 $(PKGS)

## test-privileged: only the TestPrivileged* tests (root).
test-privileged: deps lab-bin
	SLUICE_PRIVILEGED_TESTS=1 $(GO) test -race -count=1 -run '^TestPrivileged' -timeout 30m $(PKGS)

## generate: regenerate committed generated code (bpf2go objects and bindings).
generate: deps-build
	$(GO) generate $(PKGS)

## check-generate: fail if `make generate` changes any file (compares the tree before and after,
## so it also works on a checkout with uncommitted work).
check-generate: deps-build
	@before=$$(hack/treestate.sh); $(GO) generate $(PKGS); after=$$(hack/treestate.sh); \
	  if [ "$$before" != "$$after" ]; then git status --short; echo "generated code is stale: run 'make generate' and commit"; exit 1; fi

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: every fuzz target for FUZZTIME each (default 30s); FUZZ=Regex picks targets.
fuzz:
	FUZZTIME=$(or $(FUZZTIME),30s) hack/fuzz.sh '$(or $(FUZZ),.)'

## bench: Go benchmarks of every package (as root also the privileged ones: netperf through the
## forwarding loop, sluice-datapath and OVS afxdp side by side). The netperf harness with
## reports and charts arrives with bench/.
bench:
	hack/deps.sh bench
	$(GO) test -run '^$$' -bench . -skip Privileged -benchmem $(PKGS)
	$(GO) test -run '^$$' -bench Privileged -benchtime=1x -timeout 60m $(PKGS)

clean:
	rm -rf $(BIN)
