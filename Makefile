# Yard build, test and run targets. Every target installs what it needs itself.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: all install build proto lint format test test-unit test-cluster up bench bench-distribute clean

all: build

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES_STAMP)

build: install
	npx tsc -p tsconfig.json

proto: install
	npx buf generate
	npx biome format --write proto/gen >/dev/null 2>&1 || true

lint: install
	npx biome check .

format: install
	npx biome format --write .

# Unit tests of the pure cores, then the suites that start real daemons.
test: build lint
	node --test --test-reporter=spec $$(find dist/test -name '*.test.js' | sort)

up: build
	node dist/cli/yardctl.js up

# The benchmarks of docs/benchmarks.md, each printing its ratios. The docker launch benchmark
# runs when an engine answers at DOCKER_HOST (scripts/docker-engine.sh starts one).
bench: build
	node dist/bench/scheduler/run.js
	node dist/bench/rollout/run.js
	@if [ -n "$${DOCKER_HOST:-}" ]; then node dist/bench/docker-launch/run.js; \
	 else echo "bench/docker-launch skipped: no DOCKER_HOST (eval \"\$$(scripts/docker-engine.sh start /tmp/yard-docker)\")"; fi

# Release distribution in network namespaces (docs/benchmarks.md). Needs root and iproute2
# (ip, tc); not part of `bench`. Options: make bench-distribute ARGS="--agents 8 --size-mib 32"
bench-distribute: build
	@[ "$$(id -u)" = 0 ] || { echo "bench-distribute needs root (network namespaces, tc)" >&2; exit 1; }
	@command -v ip >/dev/null && command -v tc >/dev/null || { echo "bench-distribute needs iproute2 (ip, tc)" >&2; exit 1; }
	node dist/bench/distribute/run.js $(ARGS)

clean:
	rm -rf dist
