#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs the Criterion suite (one process
# per test, one at a time: tests stay single-threaded) and ends with Criterion's Synthesis line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
BUILD_DIR=${BUILD_DIR:-build}
exec "$BUILD_DIR/tests/tgraph_tests" --jobs 1 "$@"
