#!/usr/bin/env bash
# Checks that one Krait binary runs on every x86-64 CPU (kernels/cpu/variant.h):
#  1. no AVX instruction (VEX / EVEX: ymm, zmm or v-prefixed SIMD) in the code
#     compiled for the baseline: every object of the SDK core outside the avx2
#     and avx512 kernel variants, the portable variant included;
#  2. no AVX-512 instruction (EVEX-encoded: first byte 0x62, an invalid opcode
#     in 64-bit mode otherwise) in the avx2 kernel variant's object;
#  3. on emulated CPUs (qemu-user), the library picks the kernels of that CPU's
#     cpuid and the CLI runs a classifier and a language model: Nehalem (SSE4.2,
#     no AVX: the portable kernels) with the kernel and conformance tests too,
#     Haswell (AVX2 + FMA, no AVX-512: the avx2 kernels) with the variant and
#     kernel tests. The avx2 kernels' results are checked natively by ctest
#     (every per-variant test forced to avx2); qemu emulates AVX2 some 20x
#     slower than SSE, so the conformance tests run emulated on Nehalem only.
# Usage: tools/check_kernel_variants.sh [build-dir]   (a Release build, default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
case "$(uname -m)" in x86_64) ;; *) echo "check_kernel_variants: not an x86-64 machine, nothing to check"; exit 0 ;; esac
[ -f "$BUILD/krait_kernels_avx512.o" ] || { echo "check_kernel_variants: $BUILD has no avx512 variant (KRAIT_NATIVE build?)"; exit 1; }

echo "-- baseline code: no AVX instructions"
# Every member of the SDK core archive except the two SIMD variants' objects.
report=$(objdump -d --no-show-raw-insn "$BUILD/libkrait_core.a" | awk '
  /^In archive/ { next }
  /file format/ { member = $1; sub(/:$/, "", member); skip = (member ~ /^krait_kernels_avx(2|512)\.o$/);
                  if (!skip) members++; next }
  !skip && (/%[yz]mm/ || /^ +[0-9a-f]+:\t+v[a-z0-9]+ /) { if (shown[member]++ < 3) print member ": " $0 }
  END { print members " members checked" > "/dev/stderr" }')
if [ -n "$report" ]; then echo "AVX instructions in baseline code:"; echo "$report"; exit 1; fi

echo "-- avx2 variant: no AVX-512 (EVEX) instructions"
report=$(objdump -d "$BUILD/krait_kernels_avx2.o" | awk '/^ +[0-9a-f]+:\t62 / { if (n++ < 3) print }')
if [ -n "$report" ]; then echo "AVX-512 instructions in the avx2 kernels:"; echo "$report"; exit 1; fi

command -v qemu-x86_64 >/dev/null || { echo "check_kernel_variants: qemu-x86_64 missing (tools/setup.sh installs qemu-user)"; exit 1; }
FULL_TESTS=(variant_test kernels_test gemm_test linear_half_test winograd_test blocks_test vit_conformance_test
            mambavision_conformance_test mamba_conformance_test mamba2_conformance_test llama_conformance_test)
SHORT_TESTS=(variant_test kernels_test)
# One emulated CPU: its kernels, the CLI and the tests, one after the other (qemu runs one thread of
# guest code per process). The two CPUs run side by side, each with its own log, printed in order.
check_cpu() {
  local cpu=${1%%:*} rest=${1#*:} got out t
  local want=${rest%%:*} list=${rest##*:}
  local -n tests="$list"
  echo "-- emulated $cpu: expects the $want kernels"
  got=$(qemu-x86_64 -cpu "$cpu" "$BUILD/cli/krait" info -m models/vit-digits 2>/dev/null | awk '/^cpu kernels/ {print $3}')
  [ "$got" = "$want" ] || { echo "krait picked '$got' kernels on $cpu, expected $want"; return 1; }
  qemu-x86_64 -cpu "$cpu" "$BUILD/cli/krait" classify -m models/mambavision-digits models/samples/digit_*.png \
    --top-k 1 2>/dev/null >/dev/null
  qemu-x86_64 -cpu "$cpu" "$BUILD/cli/krait" generate -m models/mamba-demo -p "The" -n 8 --seed 1 2>/dev/null >/dev/null
  for t in "${tests[@]}"; do
    if ! out=$(qemu-x86_64 -cpu "$cpu" "$BUILD/tests/$t" --gtest_brief=1 \
                 --gtest_filter=-GemmPacked.ReadsNothingOutsideTheBuffers 2>&1); then
      echo "$out" | grep -v '^qemu-x86_64: warning' | tail -30
      echo "$t failed on emulated $cpu"; return 1
    fi
    echo "   $t: $(echo "$out" | grep -E '^\[  PASSED  \]' | head -1)"
  done
}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for cpu_kernels in Nehalem:portable:FULL_TESTS Haswell-noTSX:avx2:SHORT_TESTS; do
  check_cpu "$cpu_kernels" >"$logs/${cpu_kernels%%:*}.log" 2>&1 &
  pids+=($!)
done
status=0
for i in 0 1; do wait "${pids[$i]}" || status=1; done
cat "$logs/Nehalem.log" "$logs/Haswell-noTSX.log"
[ "$status" = 0 ] || exit 1
echo "check_kernel_variants: OK"
