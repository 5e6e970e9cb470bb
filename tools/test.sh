#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs
# the C++ tests (plain, then under AddressSanitizer+UBSan, and the concurrency
# test under ThreadSanitizer), the ABI check against the 1.x baseline, the
# kernel-variant check (tools/check_kernel_variants.sh), the
# find_package consumer check, and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export JOBS=${JOBS:-$(nproc)}

tools/setup.sh

echo "== build and C++ tests (Release)"
tools/build.sh build
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== 1.x ABI against the 1.2 baseline (abi/krait.abi)"
tools/check_abi.sh build

echo "== C# binding (Mono, NUnit) and the C# samples against the demo models"
tools/test_csharp.sh build

echo "== one binary for every x86-64 CPU: baseline code free of AVX, tests on emulated CPUs"
tools/check_kernel_variants.sh build

echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer"
tools/build.sh build-asan -DKRAIT_SANITIZE=address -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$JOBS"

echo "== concurrency test under ThreadSanitizer"
cmake -S . -B build-tsan -DKRAIT_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$JOBS" --target concurrency_test
TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/concurrency_test

if [ -x tools/test_find_package.sh ]; then
  echo "== find_package(krait) from an installed tree"
  tools/test_find_package.sh
fi

echo "== Python package: one manylinux wheel (auditwheel) tested from a fresh venv: import, CLI, samples, mypy --strict, stubtest, pytest"
CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" KRAIT_PY_BUILD_DIR="$PWD/build-python" tools/test_wheel.sh --pytest --install
