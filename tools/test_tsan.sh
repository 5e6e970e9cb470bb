#!/usr/bin/env bash
# Every concurrency test under ThreadSanitizer: the tests that start threads of their own (sessions on
# one model side by side, aborts and overlapping calls from another thread, concurrent classify,
# tokenizer and ViT calls, the shared worker pool), built with -fsanitize=thread and run with
# halt_on_error. The library's own worker threads run under TSan in all of them. Then a short run of the
# soak test (tests/soak: every kind of call from several threads at once; tools/soak.sh runs it for 10 min).
# A test file that starts a thread (std::thread / std::async) must be listed below: the script
# fails otherwise, so a new concurrency test cannot miss this stage.
# Usage: tools/test_tsan.sh [build-dir]   (default: build-tsan; configured here if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-tsan}
JOBS=${JOBS:-$(nproc)}

# binary:gtest filter (the tests in that binary that start threads; * = all of them)
RUNS=(
  concurrency_test:'*'
  overlapping_calls_test:'*'
  abi_rules_test:'AbortSemantics.*AnotherThread*'
  classifier_abi_test:'Classify.SessionsOnOneModelRunConcurrently'
  kernels_test:'ThreadPool.*'
  tokenizer_test:'*TokenizerThreads*'
  vit_conformance_test:'ViT.ConcurrentCallsAtManySizesAgree'
  # Starts no thread itself, but its sessions decode the Llama chat model with 2 threads: the library's
  # workers on the KV-cache paths (a one-off short reply of `krait chat` was once suspected of a race there).
  conversation_abi_test:'*'
)

listed=" ${RUNS[*]%%:*} "
missing=0
for f in $(grep -lE 'std::(thread|jthread|async)\b' tests/unit/*_test.cpp tests/abi/*_test.cpp); do
  name=$(basename "$f" .cpp)
  if [[ "$listed" != *" $name "* ]]; then
    echo "test_tsan: $f starts threads but is not in tools/test_tsan.sh's list"; missing=1
  fi
done
[ "$missing" = 0 ] || exit 1

cmake -S . -B "$BUILD" -DKRAIT_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${RUNS[@]%%:*}" krait_soak
for run in "${RUNS[@]}"; do
  binary=${run%%:*} filter=${run#*:}
  out=$(TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "$BUILD/tests/$binary" --gtest_brief=1 \
          --gtest_filter="$filter" 2>&1) || { echo "$out" | tail -60; echo "test_tsan: $binary failed"; exit 1; }
  passed=$(echo "$out" | grep -E '^\[  PASSED  \]' | head -1)
  [ -n "$passed" ] || { echo "$out" | tail -20; echo "test_tsan: $binary ran no test for '$filter'"; exit 1; }
  echo "   $binary ($filter): $passed"
done
# The soak workload for 20 s: any race report halts it; its own checks (results bitwise equal to a
# single-threaded pass, only the statuses asked for) fail it too.
out=$(TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "$BUILD/tests/soak/krait_soak" --seconds 20 --threads 3 \
        2>&1) || { echo "$out" | tail -60; echo "test_tsan: krait_soak failed"; exit 1; }
echo "   krait_soak (20 s): $(echo "$out" | grep -E '^total ' | awk '{print $2 " operations, " $3 " errors"}')"
echo "test_tsan: OK"
