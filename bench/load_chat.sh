#!/usr/bin/env bash
# Load test of POST /v1/chat (extractive route) with wrk on this machine.
# Reports req/s, p50/p99 latency, server CPU µs per request (from /proc) and peak RSS.
# Usage: bench/load_chat.sh BUILD_DIR [DURATION_S] [CONNECTIONS] [SERVER_THREADS]
# CONFIG=FILE serves another config; STAGES="admit, normalize, call" replaces the config's
# pipeline stages (the foundation pipeline of issue 2's target).
set -euo pipefail
build=${1:-build/release}
duration=${2:-10}
conns=${3:-32}
threads=${4:-2}
bin="$build/src/cli/mangaassist"
root=$(cd "$(dirname "$0")/.." && pwd)

log=$(mktemp)
config="${CONFIG:-$root/config/mangaassist.yaml}"
staged=
if [ -n "${STAGES:-}" ]; then
  staged=$(mktemp --suffix=.yaml)
  sed -e "s|^data_dir: .*|data_dir: $(cd "$(dirname "$config")" && pwd)/$(sed -n 's/^data_dir: *//p' "$config")|" \
      -e "s|^  stages: \[.*\]|  stages: [$STAGES]|" "$config" >"$staged"
  config=$staged
fi
"$bin" serve --config "$config" --listen 127.0.0.1:0 --threads "$threads" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" ${staged:+"$staged"}' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { echo "server did not start"; cat "$log"; exit 1; }
url="http://127.0.0.1:$port"

# warm-up
wrk -t2 -c"$conns" -d2s -s "$root/bench/wrk_chat.lua" "$url" >/dev/null

ticks=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$root/bench/wrk_chat.lua" "$url")
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
line=$(echo "$out" | grep WRK_RESULT)
requests=$(echo "$line" | sed 's/.*requests=\([0-9]*\).*/\1/')
dur_us=$(echo "$line" | sed 's/.*duration_us=\([0-9]*\).*/\1/')
errors=$(echo "$line" | sed 's/.*errors=\([0-9]*\).*/\1/')
p50=$(echo "$line" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
p99=$(echo "$line" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
cpu_us=$(( ( (u1 - u0) + (s1 - s0) ) * 1000000 / ticks ))
rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
echo "load_chat: wrk -t2 -c$conns -d${duration}s, server threads $threads"
echo "  requests      $requests (errors $errors, non-2xx ${non2xx:-0})"
echo "  throughput    $(( requests * 1000000 / dur_us )) req/s"
echo "  latency       p50 ${p50} us, p99 ${p99} us"
echo "  server CPU    $(( cpu_us / (requests > 0 ? requests : 1) )).$(( (cpu_us * 10 / (requests > 0 ? requests : 1)) % 10 )) us/request"
echo "  peak RSS      $(( rss_kib / 1024 )) MiB"
