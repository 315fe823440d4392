#!/usr/bin/env bash
# Installs every Debian 12 package that the build, the tests and the benchmarks use.
# Idempotent: installs only what is missing. Nothing is fetched any other way.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang lld
  libclang-rt-14-dev  # libFuzzer + sanitizer runtimes for scripts/run-fuzz.sh
  # libraries
  libboost-dev libboost-system-dev libssl-dev libsimdjson-dev libre2-dev libutf8proc-dev
  libabsl-dev libhiredis-dev libpq-dev libsqlite3-dev libfaiss-dev libzstd-dev
  libxxhash-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
  tzdata  # the budget day resets at midnight in budget.time_zone (Asia/Tokyo)
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  redis-server postgresql postgresql-client wrk curl procps python3 python3-botocore
  valgrind  # bench/instructions.sh: instructions per request (callgrind)
)
# node >= 18 and npm for the SDK end-to-end test (tests/e2e/sdk_e2e.sh); Debian 12's nodejs is 18.
# A node already on PATH (e.g. a newer one that bundles npm) is kept: these are added only for
# the commands that are missing.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged Redis and PostgreSQL services are not used: tests start their own on loopback.
