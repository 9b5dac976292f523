#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md, at full size (`full`, for `make bench`) or at a
# tiny size (`smoke`, for `make bench-smoke` and `make test`), failing as soon as one fails or
# does not finish. At smoke size the figures mean nothing: it proves that each benchmark still
# runs to its end on the real code, so none can rot unnoticed.
#
# The docker launch benchmark runs when DOCKER_HOST is set, the distribution benchmark when
# running as root with ip and tc (iproute2); under CI=true both always run, so a missing engine
# or tool fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  smoke | full) ;;
  *)
    echo "usage: scripts/bench.sh smoke|full" >&2
    exit 2
    ;;
esac
ci=false
[ "${CI:-}" = true ] && ci=true

# name, limit in seconds, then the command.
run() {
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  local start=$SECONDS
  if ! timeout --kill-after=10 "$limit" "$@"; then
    echo "bench: $name failed or did not finish within $limit s" >&2
    exit 1
  fi
  echo "== $name: done in $((SECONDS - start)) s"
}

if [ "$mode" = smoke ]; then
  run scheduler 60 node dist/bench/scheduler/run.js --agents 50 --frameworks 2 --tasks 500 --metrics both
  run scheduler-etcd 60 node dist/bench/scheduler/run.js --agents 50 --frameworks 2 --tasks 500 --store etcd
  run rollout 90 node dist/bench/rollout/run.js --instances 6 --agents 2 --min-healthy 1 --timeout 80
  run rollout-staging 120 node dist/bench/rollout/run.js --instances 6 --agents 3 --min-healthy 1 --release-mib 4 --timeout 110
  run failover 120 node dist/bench/failover/run.js --agents 20 --tasks 100
  run etcd-writes 60 node dist/bench/etcd-writes/run.js --clients 8 --units 20 --rounds 1
  run tls-handshake 60 node dist/bench/tls-handshake/run.js --handshakes 40 --rounds 1
  run distribute-model 60 node dist/bench/distribute-sim/run.js --smoke
  run distribute-model-cpu 60 node dist/bench/distribute-sim/run.js --smoke --cpu-cores 2 --cpu-ms-per-mib 16
else
  run scheduler 1200 node dist/bench/scheduler/run.js
  run scheduler-etcd 1200 node dist/bench/scheduler/run.js --agents 2000 --frameworks 4 --tasks 10000 --store both
  run rollout 1200 node dist/bench/rollout/run.js
  run rollout-staging 1200 node dist/bench/rollout/run.js --release-mib 64
  run failover 1200 node dist/bench/failover/run.js
  run etcd-writes 600 node dist/bench/etcd-writes/run.js
  run tls-handshake 600 node dist/bench/tls-handshake/run.js
  run distribute-model 1800 node dist/bench/distribute-sim/run.js
  # The check against the 2-core testbed (docs/benchmarks.md: the CPU cost per MiB it measured)
  run distribute-model-cpu 600 node dist/bench/distribute-sim/run.js --hosts 16,32 --cpu-cores 2 --cpu-ms-per-mib 16
fi

if [ -n "${DOCKER_HOST:-}" ] || $ci; then
  if [ "$mode" = smoke ]; then
    run docker-launch 90 node dist/bench/docker-launch/run.js --tasks 3
  else
    run docker-launch 1800 node dist/bench/docker-launch/run.js
  fi
else
  echo "== docker-launch skipped: no DOCKER_HOST (eval \"\$(scripts/docker-engine.sh start /tmp/yard-docker)\")"
fi

if { [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v tc >/dev/null; } || $ci; then
  if [ "$mode" = smoke ]; then
    run distribution 90 node dist/bench/distribute/run.js --agents 2 --size-mib 4
  else
    run distribution 1800 node dist/bench/distribute/run.js
  fi
else
  echo "== distribution skipped: needs root and iproute2 (ip, tc)"
fi
