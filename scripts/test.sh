#!/usr/bin/env bash
# Runs the default test suite (unit tests and the real-peer integration tests that fit in a few
# minutes). Extra arguments go to ctest, e.g. `scripts/test.sh -L unit` or `-LE slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tapflow ] || { echo "test: build/tapflow missing; run scripts/setup.sh first" >&2; exit 2; }
exec ctest --test-dir build --output-on-failure -j"$(nproc)" -LE slow "$@"
