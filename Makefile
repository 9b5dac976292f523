# Yard build, test and run targets. Every target installs what it needs itself.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: all install build proto lint format test test-unit test-cluster up bench clean

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

bench: build
	node dist/bench/scheduler/run.js

clean:
	rm -rf dist
