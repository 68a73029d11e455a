# synapse-ops-runners: the two commands of the README are `make synth` and `make test`.
# Both install what they need first (the pinned CDK CLI from npm, Go modules),
# so they work on a fresh machine with Go, Node and npm.

SHELL := /bin/bash
# jsii (inside go test and go run) and the CDK CLI run on the node found on PATH:
# Node 22 or 24 (README). On an older Node, jsii prints an end-of-life banner on
# every run; silence it for exactly that major version and never for a supported
# one, so an upgrade that drops support still shows up.
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
ifneq ($(filter $(NODE_MAJOR),18 19 20 21),)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(NODE_MAJOR)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
endif
# golangci-lint, pinned in tools/go.mod (a module of its own, so its
# dependencies never move the CDK modules) and built from the Go module proxy.
GOLANGCI_LINT := go tool -modfile=tools/go.mod golangci-lint
ENV ?=

.PHONY: setup synth test race lint diff deploy golden bench sim sim-traces ci clean bootstrap

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

setup: node_modules/.installed ## install the pinned CDK CLI and Go modules
	go mod download

synth: setup ## synthesize every environment (or ENV=dev) into cdk.out, offline
	@# Templates of environments not synthesized this time would look current.
	rm -f cdk.out/*.template.json cdk.out/*.assets.json
	npx cdk synth --quiet $(if $(ENV),--context env=$(ENV))

test: setup ## run the whole test suite
	go test ./...

race: setup ## the controller's tests (property tests scaled down) under the race detector
	go test -race ./controller/... ./internal/fleetsim/world/...

SEEDS ?= 2000
property: ## the controller's long property test with more seeds (SEEDS=2000, 42 simulated hours each)
	go test ./controller -run 'TestPropertyLongRuns' -count=1 -timeout 60m -args -property.seeds=$(SEEDS)

lint: ## gofmt, go vet and golangci-lint (.golangci.yml)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...

diff: setup ## cdk diff for ENV (needs AWS credentials)
	npx cdk diff --context env=$(ENV)

deploy: setup ## cdk deploy for ENV (needs AWS credentials)
	npx cdk deploy --context env=$(ENV)

golden: setup ## rewrite the golden templates after an intended change, printing the diff accepted
	go test ./test -run Golden -update -v

mutants: ## apply each mutant of mutants/*.txt to a copy of the module; fails unless a named test (not the golden files) catches every one
	go run ./cmd/mutants $(if $(ONLY),-only '$(ONLY)')

bench: setup ## controller benchmarks
	go test ./controller/... -run '^$$' -bench . -benchtime 200x

# The fleet simulator on the committed dev configuration: the table and chart in
# the README's simulator section (the controller and the reference policies).
SIM_POLICIES ?= controller,busy-flag,fixed-lifetime,static-pets,managed
sim: ## fleet simulator: the README's table and sim/ops-week-dev.png for dev on ops-week.json
	set -o pipefail; go run ./cmd/fleetsim --env dev --trace sim/traces/ops-week.json --policies $(SIM_POLICIES) \
		--chart sim/ops-week-dev.png | \
	awk 'FNR==NR { table = table $$0 "\n"; next } \
		/<!-- fleetsim:end -->/ { printf "%s", table; skip = 0 } \
		!skip { print } \
		/<!-- fleetsim:begin -->/ { skip = 1 }' - README.md > README.md.tmp
	mv README.md.tmp README.md

sim-traces: ## regenerate the committed traces from the generator
	go run ./cmd/fleetsim gen --seed 1 -o sim/traces/ops-week.json
	go run ./cmd/fleetsim gen --seed 1 --faults -o sim/traces/faults-week.json

ci: setup lint test race synth

clean:
	rm -rf cdk.out

# `go run` reports every non-zero exit status of the program as 1, which would
# hide bootstrap's 2 ("could not run"): build the binary and run it instead.
bootstrap: ## build bin/bootstrap (then: bin/bootstrap plan --env dev)
	go build -o bin/bootstrap ./bootstrap
