#!/usr/bin/env bash
# Sanitizer run: builds build-asan with -DTAPFLOW_SANITIZE=ON (ASan + UBSan, no recovery), runs the
# default ctest suite under it, then runs tapflow under it over every capture in tests/data/pcaps
# (and ../shared/pcaps when present), once with -n file: output and once printing the default
# table. Fails on any sanitizer report or crash. Usage: scripts/sanitize.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPFLOW_SANITIZE=ON -DTAPFLOW_WERROR=ON \
  -DTAPFLOW_BUILD_BENCH=ON >/dev/null
cmake --build build-asan -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0

echo "sanitize: ctest under ASan/UBSan"
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -LE slow "$@" || status=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dirs=(tests/data/pcaps)
[ -d ../shared/pcaps ] && dirs+=(../shared/pcaps)
captures=0
declare -A seen
while IFS= read -r -d '' capture; do
  # ../shared/pcaps may repeat tests/data/pcaps; run each distinct capture once.
  sum="$(sha1sum "$capture" | cut -d' ' -f1)"
  [ -z "${seen[$sum]:-}" ] || continue
  seen[$sum]=1
  captures=$((captures + 1))
  for mode in file table; do
    args=(--no-progress -r "$capture")
    [ "$mode" = file ] && args+=(-n "file:$tmp/out.ipfix")
    rc=0
    build-asan/tapflow "${args[@]}" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
    # Exit 1 is a capture tapflow reports as unreadable or truncated; anything else (a sanitizer
    # abort is 134, a signal >128) or any sanitizer line is a failure.
    if [ "$rc" -gt 1 ] || grep -qE 'Sanitizer|runtime error:' "$tmp/stderr"; then
      echo "sanitize: FAIL tapflow ($mode) on $capture exited $rc:" >&2
      grep -A30 -E 'Sanitizer|runtime error:' "$tmp/stderr" | head -60 >&2 || tail -20 "$tmp/stderr" >&2
      status=1
    fi
    rm -f "$tmp/out.ipfix"
  done
done < <(find "${dirs[@]}" -type f \( -name '*.pcap' -o -name '*.pcapng' \) -print0 | sort -z)
echo "sanitize: tapflow ran over $captures distinct captures of ${dirs[*]} (file output and table)"
[ "$status" -eq 0 ] && echo "sanitize: clean"
exit $status
