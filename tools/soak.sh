#!/usr/bin/env bash
# The soak test of issue 15: krait_soak (tests/soak/soak.cpp), a mixed multi-threaded workload on the demo
# models (sessions created and freed, generation, chat, classification, assistant turns, adapters loaded,
# freed and switched, aborts, overlapping calls refused with KRAIT_ERR_BUSY), every result compared bitwise
# with a single-threaded pass. Builds it under AddressSanitizer + UBSan and under ThreadSanitizer, runs
# each for --minutes (default 10) and prints the figures (operations per kind, errors, RSS). Optionally
# (--release-dir) also a plain Release build, the one where krait_soak enforces its RSS bound (under the
# sanitizers RSS is reported only: ASan's quarantine and TSan's shadow memory swamp it; LeakSanitizer
# checks for leaks at the ASan run's exit instead).
# Usage: tools/soak.sh [--minutes M] [--threads T] [--seed N] [--asan-dir DIR] [--tsan-dir DIR]
#                      [--release-dir DIR] [--only "asan tsan release"]
# Defaults: 10 minutes, 4 threads, seed 1, build-soak-asan, build-soak-tsan; no Release run unless
# --release-dir is given. JOBS (default: nproc) sets the build's parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=10 THREADS=4 SEED=1
ASAN_DIR=build-soak-asan TSAN_DIR=build-soak-tsan RELEASE_DIR=
STAGES=
JOBS=${JOBS:-$(nproc)}
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --asan-dir) ASAN_DIR=$2; shift 2 ;;
    --tsan-dir) TSAN_DIR=$2; shift 2 ;;
    --release-dir) RELEASE_DIR=$2; shift 2 ;;
    --only) STAGES=$2; shift 2 ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
if [ -z "$STAGES" ]; then
  STAGES="asan tsan"
  [ -z "$RELEASE_DIR" ] || STAGES="release $STAGES"
fi
RELEASE_DIR=${RELEASE_DIR:-build-soak-rel}
SECONDS_RUN=$(awk "BEGIN { print $MINUTES * 60 }")

dir_of() { case "$1" in asan) echo "$ASAN_DIR" ;; tsan) echo "$TSAN_DIR" ;; release) echo "$RELEASE_DIR" ;; esac; }

# Every build first, so that a build error shows before any long run. A directory that is configured
# already (build-asan, build ...) keeps its configuration, provided its sanitizer is the stage's.
for stage in $STAGES; do
  dir=$(dir_of "$stage")
  case "$stage" in
    asan) sanitize=address flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    tsan) sanitize=thread flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    release) sanitize= flags=(-DCMAKE_BUILD_TYPE=Release) ;;
    *) echo "soak: unknown stage '$stage' (asan, tsan, release)"; exit 2 ;;
  esac
  echo "== soak: building krait_soak ($stage) in $dir"
  if [ -f "$dir/CMakeCache.txt" ]; then
    have=$(sed -n 's/^KRAIT_SANITIZE:[A-Z]*=//p' "$dir/CMakeCache.txt")
    [ "$have" = "$sanitize" ] || { echo "soak: $dir is configured with KRAIT_SANITIZE='$have', not '$sanitize'"; exit 2; }
  else
    cmake -S . -B "$dir" -DKRAIT_SANITIZE="$sanitize" "${flags[@]}" -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF \
      -DKRAIT_BENCH=OFF >/dev/null
  fi
  cmake --build "$dir" -j "$JOBS" --target krait_soak
done

failed=()
for stage in $STAGES; do
  dir=$(dir_of "$stage")
  log="$dir/soak-$stage.log"
  echo "== soak: $stage, $MINUTES min, $THREADS threads, seed $SEED (log: $log)"
  rc=0
  ASAN_OPTIONS="detect_leaks=1 halt_on_error=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    "$dir/tests/soak/krait_soak" --seconds "$SECONDS_RUN" --threads "$THREADS" --seed "$SEED" >"$log" 2>&1 || rc=$?
  # The figures: the table and the lines after it (a sanitizer report, if any, is in the log).
  sed -n '/^operation/,$p' "$log"
  if [ "$rc" != 0 ]; then
    echo "soak: $stage FAILED (exit $rc); the end of $log:"; tail -40 "$log"; failed+=("$stage")
  fi
done
[ ${#failed[@]} = 0 ] || { echo "soak: failed: ${failed[*]}"; exit 1; }
echo "soak: OK ($STAGES)"
