#!/usr/bin/env bash
# valgrind memcheck over a subset of the suite (core engine, I/O, a small physics and NN part):
# any error or definite leak fails. BLIS stays on its auto-detected (haswell) kernels: valgrind
# cannot run AVX-512.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
log=$(mktemp)
filters=${VALGRIND_FILTERS:-'core/* io/* alloc/* physics/diffuse_golden physics/sip_golden nn/conv2d_matches_naive_loops nn/unet_golden_f32 nn/adam_three_steps_by_hand train/*thread*'}
for f in $filters; do
  valgrind --quiet --trace-children=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --suppressions=.ci/valgrind.supp \
    "$BUILD_DIR/tests/tgraph_tests" --jobs 1 --filter "$f" >"$log" 2>&1 || { cat "$log"; echo "valgrind: failures in $f" >&2; exit 1; }
  tail -1 "$log"
  if grep -E "definitely lost: [1-9]|Invalid (read|write)|uninitialised" "$log"; then
    echo "valgrind: reports in $f" >&2
    exit 1
  fi
done
