#!/usr/bin/env bash
# Runs the default test suite (unit tests and the real-peer integration tests that fit in a few
# minutes). Extra arguments go to ctest, e.g. `scripts/test.sh -L unit` or `-LE slow`.
# First brings what the tests need: `scripts/setup.sh --test` installs the test tools that are
# missing (asking sudo when not root) and builds the tests into build/ (incremental: quick when
# everything is there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
[ -x build/tests/tapflow_unit_tests ] || { echo "test: the tests were not built (see cmake's output above)" >&2; exit 2; }
exec ctest --test-dir build --output-on-failure -j"$(nproc)" -LE slow "$@"
