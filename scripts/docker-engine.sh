#!/usr/bin/env bash
# Starts or stops a private Docker engine for Yard's tests and benchmarks, on a unix socket
# inside DIR, with its own data root, no iptables and no bridge (containers use the host
# network, as Yard's docker executor does).
#
#   scripts/docker-engine.sh start DIR   starts dockerd, waits until it answers, prints
#                                        `export DOCKER_HOST=unix://DIR/docker.sock`
#                                        (eval its output to use the engine)
#   scripts/docker-engine.sh stop DIR    stops the dockerd started in DIR, by its pid file
#   scripts/docker-engine.sh status DIR  exits 0 when that engine answers
#
# Only the engine whose pid file is in DIR is ever signalled. DIR should be short: the
# socket path must fit in 107 bytes.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|status DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"

ping() {
  curl -sf --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1 ||
    DOCKER_HOST="unix://$sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

case "$cmd" in
start)
  command -v dockerd >/dev/null || {
    echo "dockerd not found: apt-get install -y docker.io" >&2
    exit 1
  }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  sock="$dir/docker.sock"
  pidfile="$dir/dockerd.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && ping; then
    echo "export DOCKER_HOST=unix://$sock"
    exit 0
  fi
  rm -f "$pidfile" "$sock"
  mkdir -p "$dir/data" "$dir/exec"
  # setsid: the engine must not die with the shell or terminal that started it.
  setsid dockerd \
    --host "unix://$sock" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$pidfile" \
    --iptables=false \
    --ip-masq=false \
    --bridge=none \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  starter=$!
  for _ in $(seq 1 150); do
    if ping; then
      echo "export DOCKER_HOST=unix://$sock"
      exit 0
    fi
    if ! kill -0 "$starter" 2>/dev/null; then
      echo "dockerd exited; its log ($dir/dockerd.log) ends with:" >&2
      tail -n 20 "$dir/dockerd.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "dockerd did not answer on $sock within 30 s; see $dir/dockerd.log" >&2
  kill "$starter" 2>/dev/null || true
  exit 1
  ;;
stop)
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "dockerd $pid still running after 20 s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
  # dockerd leaves its network namespace file bind-mounted under the exec root; unmount
  # whatever of ours is still mounted, so that DIR can be removed.
  [ -d "$dir" ] || exit 0
  abs=$(cd "$dir" && pwd)
  awk -v d="$abs/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ;;
status)
  ping
  ;;
*)
  usage
  ;;
esac
