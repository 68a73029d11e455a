# synapse-ops-runners: the two commands of the README are `make synth` and `make test`.
# Both install what they need first (the pinned CDK CLI and Node 22 from npm,
# Go modules), so they work on a fresh machine with Go and npm.

SHELL := /bin/bash
# The pinned Node 22 and CDK CLI from package.json come first on PATH; jsii
# (inside go test and go run) starts whichever node it finds there.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
ENV ?=

.PHONY: setup synth test race lint diff deploy golden bench sim sim-traces ci clean

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

setup: node_modules/.installed ## install the pinned CDK CLI and Go modules
	go mod download

synth: setup ## synthesize every environment (or ENV=dev) into cdk.out, offline
	npx cdk synth --quiet $(if $(ENV),--context env=$(ENV))

test: setup ## run the whole test suite
	go test ./...

race: setup ## the controller's tests (property test included) under the race detector
	go test -race ./controller/...

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...

diff: setup ## cdk diff for ENV (needs AWS credentials)
	npx cdk diff --context env=$(ENV)

deploy: setup ## cdk deploy for ENV (needs AWS credentials)
	npx cdk deploy --context env=$(ENV)

golden: setup ## rewrite the golden templates after an intended change, printing the diff accepted
	go test ./test -run Golden -update -v

bench: setup ## controller benchmarks
	go test ./controller/... -run '^$$' -bench . -benchtime 200x

# The fleet simulator on the committed dev configuration: the table and chart in
# the README's simulator section. The controller joins the comparison once the
# world model is wired in (docs/simulator.md, Status).
SIM_POLICIES ?= busy-flag,fixed-lifetime,static-pets,managed
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
