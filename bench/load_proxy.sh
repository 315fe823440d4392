#!/usr/bin/env bash
# Load test of the proxied path: wrk → gateway POST /v1/chat/completions → fake upstream on
# loopback (an OpenAI-compatible provider), against wrk → fake upstream directly (baseline).
# Reports req/s, p50/p99 of both, the added p99, and gateway CPU µs per request (from /proc).
# Usage: bench/load_proxy.sh BUILD_DIR [DURATION_S] [CONNECTIONS] [GATEWAY_THREADS]
# PIPELINE="admit, normalize, intent, cache, call, cache_fill" sets the gateway's stages (the
# cached-answer measurement: wrk's four bodies are cache hits after the warm-up).
set -euo pipefail
build=${1:-build/release}
duration=${2:-10}
conns=${3:-32}
threads=${4:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/src/cli/mangaassist"
fake="$build/bench/fake_upstream"
[ -x "$fake" ] || { echo "missing $fake (build the fake_upstream target)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
fport=$(free_port)
"$fake" --host 127.0.0.1 --port "$fport" --threads 1 >"$tmp/fake.log" 2>&1 &
fpid=$!
gpid=
trap 'kill $fpid $gpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$fport") 2>/dev/null && break
  sleep 0.05
done

cat >"$tmp/gateway.yaml" <<YAML
data_dir: $root/data
pricing_file: $root/config/pricing.yaml
log: {level: warn}
providers:
  local:
    type: openai
    base_url: http://127.0.0.1:$fport
    api_key: sk-bench
models:
  haiku: {provider: local, model: claude-3-5-haiku-20241022}
call: {guest_model: haiku, member_model: haiku, premium_model: haiku}
${PIPELINE:+pipeline: {stages: [$PIPELINE]\}}
YAML
"$bin" serve --config "$tmp/gateway.yaml" --listen 127.0.0.1:0 --threads "$threads" >"$tmp/gw.log" 2>&1 &
gpid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/gw.log" && break; sleep 0.05; done
gport=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$tmp/gw.log")
[ -n "$gport" ] || { echo "gateway did not start"; cat "$tmp/gw.log"; exit 1; }

run() {  # run URL → sets requests dur_us errors p50 p99
  local out line
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$root/bench/wrk_proxy.lua" "$1")
  line=$(echo "$out" | grep WRK_RESULT)
  requests=$(echo "$line" | sed 's/.*requests=\([0-9]*\).*/\1/')
  dur_us=$(echo "$line" | sed 's/.*duration_us=\([0-9]*\).*/\1/')
  errors=$(echo "$line" | sed 's/.*errors=\([0-9]*\).*/\1/')
  p50=$(echo "$line" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
  p99=$(echo "$line" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
}

# warm-up both paths
wrk -t2 -c"$conns" -d2s -s "$root/bench/wrk_proxy.lua" "http://127.0.0.1:$fport" >/dev/null
wrk -t2 -c"$conns" -d2s -s "$root/bench/wrk_proxy.lua" "http://127.0.0.1:$gport" >/dev/null

ticks=$(getconf CLK_TCK)
read -r fu0 fs0 < <(awk '{print $14, $15}' /proc/$fpid/stat)
run "http://127.0.0.1:$fport"
read -r fu1 fs1 < <(awk '{print $14, $15}' /proc/$fpid/stat)
d_req=$requests d_dur=$dur_us d_err=$errors d_p50=$p50 d_p99=$p99
f_cpu_us=$(( ( (fu1 - fu0) + (fs1 - fs0) ) * 1000000 / ticks ))
dn=$(( d_req > 0 ? d_req : 1 ))

read -r u0 s0 < <(awk '{print $14, $15}' /proc/$gpid/stat)
# PERF=FILE: also profile the gateway during the measured run (perf report -i FILE).
if [ -n "${PERF:-}" ]; then
  perf record ${PERF_OPTS:--F 499 -g} -p "$gpid" -o "$PERF" -- sleep "$duration" >/dev/null 2>&1 &
fi
run "http://127.0.0.1:$gport"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$gpid/stat)
cpu_us=$(( ( (u1 - u0) + (s1 - s0) ) * 1000000 / ticks ))
rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$gpid/status)
n=$(( requests > 0 ? requests : 1 ))

echo "load_proxy: wrk -t2 -c$conns -d${duration}s, gateway threads $threads, fake upstream 1 thread"
echo "  direct   $(( d_req * 1000000 / d_dur )) req/s  p50 ${d_p50} us  p99 ${d_p99} us  errors $d_err"
echo "  proxied  $(( requests * 1000000 / dur_us )) req/s  p50 ${p50} us  p99 ${p99} us  errors $errors"
echo "  added    p50 $(( p50 - d_p50 )) us, p99 $(( p99 - d_p99 )) us"
echo "  gateway CPU  $(( cpu_us / n )).$(( (cpu_us * 10 / n) % 10 )) us/request, peak RSS $(( rss_kib / 1024 )) MiB"
echo "  (fake upstream alone, direct run: $(( f_cpu_us / dn )).$(( (f_cpu_us * 10 / dn) % 10 )) us CPU/request)"
