# aoetl — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RESULTS := .state/test-results
# No --forceExit: every test closes what it opens (pools, Redis clients, servers), so jest exits on its own.
JEST := pnpm exec jest --ci
# lint, typecheck and the unit tests go through turbo, which replays them from .turbo/cache when none of their
# inputs changed (ADR 0003); the build stays `tsc -b`, incremental by itself.
TURBO := pnpm exec turbo run --output-logs=new-only
export TURBO_TELEMETRY_DISABLED := 1
export TURBO_NO_UPDATE_NOTIFIER := 1
# Tests reach OpenBao and the OIDC issuer over HTTPS signed by the stack's dev CA (made by `make up`).
STACK_CA := NODE_EXTRA_CA_CERTS=$(CURDIR)/.state/certs/ca.crt

.PHONY: help install build up demo down status lint typecheck unit integration e2e helm-test cluster-up cluster-down cluster-test test bench chaos

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

install: ## install pnpm and the workspace dependencies (lockfile)
	@bash deploy/tools/bootstrap.sh

build: install ## compile every package and service (tsc -b)
	pnpm run build

up: build ## start the local stack (Postgres, Redis, OpenBao, Docker+gVisor, sandbox image, OIDC) and the four services
	bash deploy/local/stack.sh up
	bash deploy/local/migrate.sh
	bash deploy/local/services.sh start

demo: up ## bring everything up and run the example pipeline end to end; last line: the final run record
	@node deploy/local/demo.mjs

down: ## stop the services and the stack; leaves no process behind
	-bash deploy/local/services.sh stop
	bash deploy/local/stack.sh down

status: ## health of every component
	@bash deploy/local/stack.sh status; s1=$$?; bash deploy/local/services.sh status; s2=$$?; exit $$((s1 || s2))

lint: build ## eslint, type-checked, with the package-boundary rules (cached by turbo)
	pnpm run lint

typecheck: build ## tsc over every source and test file (cached by turbo)
	pnpm run typecheck

unit: build ## unit tests (jest unit project, cached by turbo), the sandbox harness's Python tests and the dev OIDC issuer's flows
	@mkdir -p $(RESULTS)
	$(TURBO) test:unit:jest -- --ci --json --outputFile=$(RESULTS)/unit.json
	python3 -m unittest discover -s docker/sandbox-python -p 'test_*.py' 2>&1 | tail -n 3 | tee $(RESULTS)/harness.txt
	@n=$$(sed -n 's/^Ran \([0-9]*\) tests\? .*/\1/p' $(RESULTS)/harness.txt); grep -q '^OK' $(RESULTS)/harness.txt \
	  && echo "$$n passed, 0 failed" >> $(RESULTS)/harness.txt || { echo "0 passed, $${n:-1} failed" >> $(RESULTS)/harness.txt; exit 1; }
	node --test deploy/local/oidc-issuer/ 2>&1 | tee $(RESULTS)/oidc-issuer.txt | tail -n 8; s=$${PIPESTATUS[0]}; \
	  echo "$$(sed -n 's/^# pass //p' $(RESULTS)/oidc-issuer.txt) passed, $$(sed -n 's/^# fail //p' $(RESULTS)/oidc-issuer.txt) failed" >> $(RESULTS)/oidc-issuer.txt; exit $$s

integration: up ## integration tests against the real local stack
	@mkdir -p $(RESULTS)
	$(STACK_CA) $(JEST) --selectProjects integration --runInBand --json --outputFile=$(RESULTS)/integration.json

e2e: up ## end-to-end tests through the four running services, and the API fuzzing (schemathesis)
	@mkdir -p $(RESULTS)
	$(STACK_CA) $(JEST) --selectProjects e2e --runInBand --json --outputFile=$(RESULTS)/e2e.json
	bash test/e2e/gateway-schemathesis.sh > $(RESULTS)/schemathesis.txt; s=$$?; tail -n 1 $(RESULTS)/schemathesis.txt; exit $$s

helm-test: ## lint and render the chart, prove the NetworkPolicies by analysis
	@mkdir -p $(RESULTS)
	bash helm/test/run.sh | tee $(RESULTS)/helm.txt

cluster-up: ## a single-node Kubernetes in its own network namespace (deploy/cluster; built from the Go module proxy, cached)
	bash deploy/cluster/cluster.sh up

cluster-down: ## stop the cluster and remove it; fails naming anything left behind
	bash deploy/cluster/cluster.sh down

cluster-test: ## the cluster stage: up, restricted pods, Service + DNS, admission, RBAC matrix, no egress, down
	@mkdir -p $(RESULTS)
	set -o pipefail; bash test/cluster/run.sh | tee $(RESULTS)/cluster.txt

test: ## what CI runs: lint, typecheck, unit, integration, e2e, chart tests on the real local stack, then the single-node cluster stage
	@rm -rf $(RESULTS)
	$(MAKE) lint typecheck unit
	$(MAKE) integration e2e
	$(MAKE) helm-test
	@s=$$(date +%s); $(MAKE) cluster-test; r=$$?; echo "cluster stage: $$(( $$(date +%s) - s )) s"; exit $$r
	@node deploy/tools/test-summary.mjs $(RESULTS)

chaos: up ## 100 SIGKILLs of the etl-agent mid-run; prints the figures (CI runs 20)
	CHAOS_KILLS=100 $(STACK_CA) $(JEST) --selectProjects e2e --runInBand --testPathPatterns reliability -t 'SIGKILL of the etl-agent'

bench: up ## benchmarks, printed as ratios against baselines run side by side
	node bench/run.mjs
