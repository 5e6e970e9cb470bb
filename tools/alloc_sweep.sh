#!/usr/bin/env bash
# The allocation-failure test with every allocation index of every call (tests/alloc): model loads,
# session creation, generation, chat, classification, assistant turns, adapter loads, each run once
# per allocation it makes with that allocation failing. CI runs the same test with the first 300
# indices of each call and 300 more spread over the rest; this is the exhaustive run whose figures
# are in docs/RELIABILITY.md.
#
#   tools/alloc_sweep.sh [build-dir]      (default: build-asan: AddressSanitizer + LeakSanitizer,
#                                          configured and built here if needed)
# Any build of the tests works (e.g. build/ for a faster run without leak checking).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-asan}
JOBS=${JOBS:-$(nproc)}
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD" -DKRAIT_SANITIZE=address -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target alloc_failure_test
start=$SECONDS
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} KRAIT_ALLOC_SWEEP_ALL=0 "$BUILD/tests/alloc_failure_test"
echo "alloc_sweep: every allocation index of every call passed in $((SECONDS - start)) s ($BUILD)"
