#!/usr/bin/env bash
# ThreadSanitizer run of everything that crosses threads: builds build-tsan (-DTAPFLOW_TSAN=ON),
# runs the runtime's unit tests (stages, dispatcher and shard workers, export thread, request
# queue, doorbell) and the transports' (TCP and SCTP sessions with their listener threads), then
# whole conversions at --threads 1, 2 and 3 with control questions from another thread while they
# run, and the signal tests. Fails on any report. Usage: scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPFLOW_TSAN=ON -DTAPFLOW_WERROR=ON \
  -DTAPFLOW_BUILD_BENCH=ON >/dev/null
cmake --build build-tsan -j"$(nproc)" --target tapflow tapflow_unit_tests gen_pcap

export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
echo "tsan: runtime and transport unit tests"
build-tsan/tests/tapflow_unit_tests \
  --gtest_filter='Runtime*:ExportThread*:Doorbell*:TcpTransport*:SctpTransport*:UdpTransport*:IpfixExporter*'

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
build-tsan/bench/gen_pcap --packets 300000 --flows 30000 -o "$tmp/gen.pcap" >/dev/null
for threads in 1 2 3; do
  echo "tsan: a conversion at --threads $threads with ctl questions meanwhile"
  build-tsan/tapflow -r "$tmp/gen.pcap" --threads "$threads" --no-progress --log-level error \
    --control "$tmp/ctl" -n "file:$tmp/out.ipfix" &
  pid=$!
  for _ in $(seq 20); do
    build-tsan/tapflow ctl -s "$tmp/ctl" stats >/dev/null 2>&1 || true
    build-tsan/tapflow ctl -s "$tmp/ctl" flows 5 >/dev/null 2>&1 || true
  done
  wait "$pid"
done
echo "tsan: a conversion with side blocks (--biflow --fields smac,vlan) at --threads 2"
# Record batches then carry a side array the worker allocates and the export thread reads.
build-tsan/tapflow -r "$tmp/gen.pcap" --threads 2 --no-progress --log-level error --biflow \
  --fields smac,vlan -n "file:$tmp/out-side.ipfix"
echo "tsan: signals during conversions"
python3 tests/integration/signals.py --tapflow=build-tsan/tapflow
echo "tsan: clean"
