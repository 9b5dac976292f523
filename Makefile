# Yard build, test and run targets. Every target installs what it needs itself.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: all install build proto lint format test test-unit test-cluster up bench bench-smoke bench-distribute clean

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

# Unit tests of the pure cores, then the suites that start real daemons, then every benchmark
# at a tiny size (bench-smoke), so that no benchmark can stop working unnoticed. One test file
# at a time: with two, the suite took half the time, but rollout and health-check tests of the
# service framework failed in two runs of three.
test: build lint
	node --test --test-reporter=spec $$(find dist/test -name '*.test.js' | sort)
	scripts/bench.sh smoke

up: build
	node dist/cli/yardctl.js up

# The benchmarks of docs/benchmarks.md at full size, each printing its ratios measured in the
# same run: scheduler, rollout (with its failover run), docker launch when an engine answers at
# DOCKER_HOST (scripts/docker-engine.sh starts one), distribution when root with iproute2.
# Under CI=true none is skipped. Run on an otherwise quiet machine.
bench: build
	scripts/bench.sh full

# Every benchmark at a tiny size, under a minute in all: proves each still runs to its end on
# the real code paths (the figures at this size mean nothing). Part of `make test`.
bench-smoke: build
	scripts/bench.sh smoke

# Release distribution alone, with options (docs/benchmarks.md). Needs root and iproute2
# (ip, tc); installs aria2 for its reference phase when missing (elsewhere, as in bench-smoke,
# that phase is skipped without it). Options: make bench-distribute ARGS="--agents 8 --size-mib 32"
bench-distribute: build
	@[ "$$(id -u)" = 0 ] || { echo "bench-distribute needs root (network namespaces, tc)" >&2; exit 1; }
	@command -v ip >/dev/null && command -v tc >/dev/null || { echo "bench-distribute needs iproute2 (ip, tc)" >&2; exit 1; }
	@command -v aria2c >/dev/null || apt-get install -y aria2
	node dist/bench/distribute/run.js $(ARGS)

clean:
	rm -rf dist
