#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang++-14, ASan + UBSan) in build-fuzz and runs each
# for SECONDS (default 60) over its seed corpus; fails on any crash, leak, timeout or sanitizer
# report. New inputs go to build-fuzz/corpus/<target> (the seeds in git are never written);
# crashing inputs to build-fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_decoder fuzz_url fuzz_message_decoder fuzz_config fuzz_flow_table fuzz_pcap_reader)
cxx="${TAPFLOW_FUZZ_CXX:-clang++-14}"
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx missing (scripts/setup.sh --test installs it)" >&2; exit 2; }

# The fuzz targets need no DPDK: this build also compiles the drivers without it (the stand-in).
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPFLOW_FUZZ=ON -DTAPFLOW_BUILD_TESTS=OFF -DTAPFLOW_BUILD_BENCH=OFF -DTAPFLOW_WERROR=ON \
  -DTAPFLOW_WITH_DPDK=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
status=0
for target in "${targets[@]}"; do
  work="build-fuzz/corpus/$target"
  artifacts="build-fuzz/artifacts/$target/"
  mkdir -p "$work" "$artifacts"
  log="build-fuzz/$target.log"
  echo "fuzz: $target for ${seconds}s (log $log)"
  if build-fuzz/tests/fuzz/"$target" "$work" "tests/fuzz/corpus/$target" \
       -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts" >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|cov:' "$log" | tail -3 | sed 's/^/  /'
  else
    echo "fuzz: $target FAILED; the end of $log:" >&2
    tail -40 "$log" >&2
    ls -1 "$artifacts" >&2
    status=1
  fi
done
exit $status
