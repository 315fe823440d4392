#!/usr/bin/env bash
# Instructions per request of the gateway's serving thread, counted by callgrind: a number that
# does not move with the host's noise (wall-clock CPU per request on this shared VM varies by
# ±30% between identical runs). The gateway runs under valgrind with one server thread; wrk
# (-t1 -c4, slowed down by valgrind) sends the script's requests; the inclusive instruction count
# of the server thread's io_context loop is divided by the requests served.
# Usage: bench/instructions.sh BUILD_DIR CONFIG WRK_SCRIPT [SECONDS]
#   proxied/cached paths need an upstream: start build/release/bench/fake_upstream first and
#   point the config's provider at it (see bench/load_proxy.sh for the config).
set -euo pipefail
build=${1:?BUILD_DIR}
config=${2:?CONFIG}
script=${3:?WRK_SCRIPT}
seconds=${4:-12}
bin="$build/src/cli/mangaassist"
tmp=$(mktemp -d)
trap 'kill $vpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
  "$bin" serve --config "$config" --listen "127.0.0.1:$port" --threads 1 >"$tmp/serve.log" 2>&1 &
vpid=$!
for _ in $(seq 600); do grep -q 'listening on' "$tmp/serve.log" && break; sleep 0.1; done
grep -q 'listening on' "$tmp/serve.log" || { echo "gateway did not start"; cat "$tmp/serve.log"; exit 1; }
requests=$(wrk -t1 -c4 -d"${seconds}s" -s "$script" "http://127.0.0.1:$port" |
           sed -n 's/.*WRK_RESULT requests=\([0-9]*\).*/\1/p')
kill -INT $vpid
wait $vpid || true
ir=$(callgrind_annotate --inclusive=yes "$tmp/cg.out" 2>/dev/null |
     awk '/scheduler::run/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "instructions: $requests requests, $ir instructions in the serving loop," \
     "$(( ir / (requests > 0 ? requests : 1) )) per request"
