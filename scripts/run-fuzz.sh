#!/usr/bin/env bash
# Builds the libFuzzer target for normalize + redact (src/privacy/redact_fuzzer.cc) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, outside the main (g++) build, and runs it for
# a bounded time. Registered with ctest as `redact_fuzz`.
#   usage: scripts/run-fuzz.sh OUT_DIR [SECONDS]
# Exit status: 0 clean run, 1 a finding (the crashing input is written to OUT_DIR), 77 skipped
# (no clang or no fuzzer runtime: apt-get install clang libclang-rt-14-dev).
set -euo pipefail

out=${1:?usage: run-fuzz.sh OUT_DIR [SECONDS]}
secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cxx=${FUZZ_CXX:-clang++}
mkdir -p "$out/corpus" "$out/seeds"
out=$(cd "$out" && pwd)

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run-fuzz: $cxx not found; skipping" >&2
  exit 77
fi
probe="$out/probe"
if ! printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' |
    "$cxx" -x c++ -fsanitize=fuzzer - -o "$probe" 2>/dev/null; then
  echo "run-fuzz: $cxx has no libFuzzer runtime (libclang-rt-14-dev); skipping" >&2
  exit 77
fi

sources=(src/privacy/redact_fuzzer.cc src/privacy/redactor.cc src/privacy/check_digits.cc
         src/privacy/sanitize.cc src/core/normalize.cc src/core/language.cc)
headers=(src/privacy/redactor.h src/privacy/check_digits.h src/privacy/sanitize.h
         src/core/normalize.h src/core/language.h src/core/strings.h)
bin="$out/redact_fuzzer"
rebuild=0
[ -x "$bin" ] || rebuild=1
for f in "${sources[@]}" "${headers[@]}" scripts/run-fuzz.sh; do
  [ "$root/$f" -nt "$bin" ] && rebuild=1
done
if [ "$rebuild" = 1 ]; then
  echo "run-fuzz: building $bin" >&2
  # shellcheck disable=SC2046  # pkg-config output is a list of flags
  "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/src" $(pkg-config --cflags re2 libutf8proc) \
    "${sources[@]/#/$root/}" -o "$bin.tmp" \
    $(pkg-config --libs re2 libutf8proc absl_strings absl_status absl_statusor absl_flat_hash_map)
  mv "$bin.tmp" "$bin"
fi

# Seeds: the texts of the labelled evaluation set, one file each.
python3 - "$root/tests/data/pii_eval.jsonl" "$out/seeds" <<'PY'
import json, sys, os
src, dst = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    for i, line in enumerate(f):
        if line.strip():
            with open(os.path.join(dst, "eval%03d" % i), "wb") as o:
                o.write(json.loads(line)["text"].encode("utf-8"))
PY

cd "$out"
exec "$bin" -max_total_time="$secs" -max_len=1024 -timeout=10 -rss_limit_mb=2048 \
  -dict="$root/src/privacy/redact_fuzzer.dict" -print_final_stats=1 \
  -artifact_prefix="$out/" corpus seeds
