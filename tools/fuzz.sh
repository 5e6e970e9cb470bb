#!/usr/bin/env bash
# Runs Krait's libFuzzer harnesses (tests/fuzz; docs/RELIABILITY.md, "Fuzzing") built with
# -DKRAIT_FUZZ=ON (clang):
#
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKRAIT_FUZZ=ON \
#         -DKRAIT_TESTS=OFF -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz -j1
#
#   tools/fuzz.sh BUILD_DIR --brief [--seconds S]      each target S seconds (default 10): CI
#   tools/fuzz.sh BUILD_DIR --long [--runs N]          each target N executions (default 1000000)
#   tools/fuzz.sh BUILD_DIR --make-seeds               rewrites the SDK-made seeds (session_state, conversation)
#   options: --targets "a b ..." (default: all), --out FILE (the markdown table; default
#            BUILD_DIR/fuzz/results-<mode>.md). Every target runs even after another one's finding.
#
# Each target runs on a copy of its committed seed corpus (tests/fuzz/corpus/<target>, never written)
# with its dictionary (tests/fuzz/<target>.dict), one at a time, under ASan + UBSan, with
# -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10: a crash, a sanitizer report, a leak, an
# escaped exception, an input running over 10 s or a process (or one allocation) over 2 GiB is a
# finding. Findings are saved as BUILD_DIR/fuzz/artifacts/<target>-crash-<sha1> (or leak-, oom-,
# timeout-); reproduce one with BUILD_DIR/fuzz/fuzz_<target> FILE. Exit status: 0 without findings.
set -uo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
BUILD=$(cd "$1" && pwd) || exit 2
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=""; SECONDS_PER_TARGET=10; RUNS=1000000; TARGETS=""; OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --brief) MODE=brief ;;
        --long) MODE=long ;;
        --make-seeds) MODE=seeds ;;
        --seconds) SECONDS_PER_TARGET=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --targets) TARGETS=$2; shift ;;
        --out) OUT=$2; shift ;;
        *) usage ;;
    esac
    shift
done
[ -n "$MODE" ] || usage
FUZZ_BIN="$BUILD/fuzz"
export KRAIT_SOURCE_DIR="$ROOT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "$MODE" = seeds ]; then
    tmp=$(mktemp -d)
    "$FUZZ_BIN/krait_fuzz_make_seeds" "$tmp" || { rm -rf "$tmp"; exit 1; }
    for t in session_state conversation; do
        rm -rf "$ROOT/tests/fuzz/corpus/$t"
        mkdir -p "$ROOT/tests/fuzz/corpus/$t"
        for f in "$tmp/$t"/*; do cp "$f" "$ROOT/tests/fuzz/corpus/$t/$(basename "$f")"; done
        echo "$t: $(ls "$ROOT/tests/fuzz/corpus/$t" | wc -l) seeds"
    done
    rm -rf "$tmp"
    exit 0
fi

if [ -z "$TARGETS" ]; then
    for src in "$ROOT"/tests/fuzz/*_fuzz.cpp; do
        t=$(basename "$src" _fuzz.cpp)
        TARGETS="$TARGETS $t"
    done
fi
[ -n "$OUT" ] || OUT="$FUZZ_BIN/results-$MODE.md"
ARTIFACTS="$FUZZ_BIN/artifacts"
WORK="$FUZZ_BIN/work"
LOGS="$FUZZ_BIN/logs"
mkdir -p "$ARTIFACTS" "$LOGS"

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
if [ "$MODE" = brief ]; then limit="-max_total_time=$SECONDS_PER_TARGET"; else limit="-runs=$RUNS"; fi
{
    echo "Krait fuzzing, $MODE mode: $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) cores,"
    echo "$(clang++ --version 2>/dev/null | head -1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')."
    echo "Command: \`tools/fuzz.sh $(basename "$BUILD") --$MODE$([ "$MODE" = long ] && echo " --runs $RUNS")$([ "$MODE" = brief ] && echo " --seconds $SECONDS_PER_TARGET")\`;"
    echo "each target: \`fuzz_<target> -dict=tests/fuzz/<target>.dict $limit -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 <copy of tests/fuzz/corpus/<target>>\`."
    echo
    echo "| target | seeds | executions | exec/s | cov (seeds → end) | ft (seeds → end) | corpus | peak RSS MB | time s | crashes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$OUT"

findings=0
start_all=$(date +%s)
for t in $TARGETS; do
    bin="$FUZZ_BIN/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin missing (build $BUILD first)" >&2
        echo "| $t | | | | | | | | | not built |" >> "$OUT"
        findings=$((findings + 1))
        continue
    fi
    seeds="$ROOT/tests/fuzz/corpus/$t"
    dict="$ROOT/tests/fuzz/$t.dict"
    rm -rf "$WORK/$t"
    mkdir -p "$WORK/$t"
    n_seeds=0
    if [ -d "$seeds" ]; then cp -r "$seeds"/. "$WORK/$t"/; n_seeds=$(ls "$seeds" | wc -l); fi
    dict_arg=(); [ -f "$dict" ] && dict_arg=(-dict="$dict")
    log="$LOGS/$t-$MODE.log"
    # Earlier runs' findings of this target go to artifacts/previous/, so that what is listed is this run's.
    if ls "$ARTIFACTS/$t-"* > /dev/null 2>&1; then
        mkdir -p "$ARTIFACTS/previous"
        mv "$ARTIFACTS/$t-"* "$ARTIFACTS/previous/"
    fi
    echo "== $t ($n_seeds seeds, $limit)"
    t0=$(date +%s)
    "$bin" "${dict_arg[@]}" "$limit" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$ARTIFACTS/$t-" "$WORK/$t" > "$log" 2>&1
    rc=$?
    t1=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    inited=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$log")
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED|RELOAD)' "$log" | tail -1)
    field() { echo "$1" | sed -n "s/.* $2: *\([0-9A-Za-z/]*\).*/\1/p"; }
    cov0=$(field "$inited" cov); ft0=$(field "$inited" ft)
    cov1=$(field "$last" cov); ft1=$(field "$last" ft); corp=$(field "$last" corp)
    crashes=0
    if [ $rc -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer|krait fuzz \(' "$log"; then
        crashes=1
        findings=$((findings + 1))
        echo "   FINDING (exit $rc): $(grep -m1 -E 'ERROR|runtime error|krait fuzz \(' "$log")"
        echo "   log: $log; artifacts: $(ls "$ARTIFACTS" | grep "^$t-" | tr '\n' ' ')"
    fi
    echo "   executions ${execs:-?}, ${rate:-?}/s, cov ${cov0:-?} -> ${cov1:-?}, ft ${ft0:-?} -> ${ft1:-?}, $((t1 - t0)) s"
    echo "| $t | $n_seeds | ${execs:-?} | ${rate:-?} | ${cov0:-?} → ${cov1:-?} | ${ft0:-?} → ${ft1:-?} | ${corp:-?} | ${rss:-?} | $((t1 - t0)) | $crashes |" >> "$OUT"
    rm -rf "$WORK/$t"
done
echo >> "$OUT"
echo "Total time: $(( $(date +%s) - start_all )) s; findings: $findings." >> "$OUT"
echo
cat "$OUT"
[ $findings -eq 0 ]
