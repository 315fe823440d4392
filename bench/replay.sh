#!/usr/bin/env bash
# Replay throughput and memory (issue 6): generates traces of 100k and 1M messages with
# `mangaassist trace gen` (same seed, same 7 days, so only the length differs), replays each
# with the default configs (config/replay.yaml against config/replay-baseline.yaml: both runs,
# every message) and prints messages/s and peak RSS from /usr/bin/time -v.
# Usage: bench/replay.sh [BUILD_DIR] [SIZES...]   e.g. bench/replay.sh build/release 100000 1000000
# CONSTANT_RATE=1 spreads each trace over N × 7 / 100,000 days instead (the same traffic per hour
# for every size, so only the trace's length differs: 1M messages → 70 days).
set -euo pipefail
build=${1:-build/release}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
bin="$build/src/cli/mangaassist"
[ -x "$bin" ] || { echo "no $bin: build first (make build)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
work=$(mktemp -d /tmp/mangaassist-replay-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

printf '%-10s %-6s %-12s %-10s %-12s %-12s %-10s\n' messages days trace_MB gen_s replay_s msgs_per_s peak_RSS_MiB
for n in "${sizes[@]}"; do
  trace="$work/trace-$n.jsonl"
  days=7
  [ "${CONSTANT_RATE:-0}" = 1 ] && days=$(( n * 7 / 100000 > 0 ? n * 7 / 100000 : 1 ))
  gen_s=$( { /usr/bin/time -f '%e' "$bin" trace gen --seed 1 --messages "$n" --days "$days" \
             --out "$trace" --quiet; } 2>&1 | tail -1)
  mb=$(( $(stat -c %s "$trace") / 1000000 ))
  /usr/bin/time -v "$bin" replay "$trace" --quiet --json "$work/replay-$n.json" \
    >"$work/replay-$n.txt" 2>"$work/time-$n.txt"
  wall=$(grep 'Elapsed (wall clock)' "$work/time-$n.txt" | awk '{print $NF}')
  rss_kb=$(grep 'Maximum resident set size' "$work/time-$n.txt" | awk '{print $NF}')
  rate=$(python3 -c "import json;d=json.load(open('$work/replay-$n.json'));print(round(d['messages_per_s']))")
  printf '%-10s %-6s %-12s %-10s %-12s %-12s %-10s\n' "$n" "$days" "$mb" "$gen_s" "$wall" "$rate" \
    "$(( rss_kb / 1024 ))"
done
