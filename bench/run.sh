#!/usr/bin/env bash
# `make bench`: every micro-benchmark, then the HTTP load test. Usage: bench/run.sh BUILD_DIR
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
for b in $(find "$build" -name '*_benchmark' -type f -executable | sort); do
  echo "== $(basename "$b")"
  "$b" --benchmark_min_time=0.2
done
echo "== load test"
bash "$root/bench/load_chat.sh" "$build" 10 32 2
echo "== replay (issue 6)"
bash "$root/bench/replay.sh" "$build" 100000
