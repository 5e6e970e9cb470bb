#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs
# the C++ tests (plain, then under AddressSanitizer+UBSan, and every
# concurrency test under ThreadSanitizer), every parser briefly under libFuzzer,
# the ABI check against the 1.x baseline, the C# binding's NUnit tests, the
# kernel-variant check, the installed-package checks (CMake, pkg-config), the
# C and C++ samples, the API reference (Doxygen), conan create with its test
# package, and the Python wheel (auditwheel, a fresh venv: samples, mypy
# --strict, pytest). Each stage's header says the minutes since the start.
set -euo pipefail
cd "$(dirname "$0")/.."
export JOBS=${JOBS:-$(nproc)}

tools/setup.sh
stage() { echo "== [$((SECONDS / 60)) min] $*"; }

stage "build and C++ tests (Release)"
tools/build.sh build
ctest --test-dir build --output-on-failure -j "$JOBS"

stage "1.x ABI against the 1.2 baseline (abi/krait.abi)"
tools/check_abi.sh build

stage "C# binding (Mono, NUnit) and the C# samples against the demo models"
tools/test_csharp.sh build

stage "one binary for every x86-64 CPU: baseline code free of AVX, tests on emulated CPUs"
tools/check_kernel_variants.sh build

# One clang build serves two stages: the C++ tests under ASan + UBSan (LeakSanitizer at exit, which also
# checks the allocation-failure test's every failed run) and the libFuzzer harnesses (-DKRAIT_FUZZ=ON:
# the same objects carry the fuzzer's coverage instrumentation).
stage "C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer (clang)"
tools/build.sh build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKRAIT_SANITIZE=address \
  -DKRAIT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRAIT_CLI=OFF -DKRAIT_SAMPLES=OFF -DKRAIT_BENCH=OFF
# The allocation-failure test tries the first 100 allocations of each call and 100 spread over the rest
# here (300 + 300 in the Release stage): model loads run ~10x slower under ASan.
ASAN_OPTIONS=detect_leaks=1 KRAIT_ALLOC_SWEEP_ALL=100 ctest --test-dir build-asan --output-on-failure -j "$JOBS"

stage "libFuzzer harnesses (the build above): every parser and decoder briefly on its seed corpus"
tools/fuzz.sh build-asan --brief --seconds 8

stage "every concurrency test under ThreadSanitizer"
tools/test_tsan.sh build-tsan

stage "find_package(krait) and pkg-config krait from the build above, installed"
tools/test_find_package.sh --from-build build

stage "C and C++ samples on the demo models"
tools/run_samples.sh build

stage "API reference (Doxygen; any warning fails)"
tools/check_docs.sh build/docs

stage "Conan 2: conan create (offline, private CONAN_HOME; a library-only build) and conan/test_package"
tools/test_conan.sh

stage "Python package: one manylinux wheel (auditwheel) tested from a fresh venv: import, CLI, samples, mypy --strict, stubtest, pytest"
CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" KRAIT_PY_BUILD_DIR="$PWD/build-python" tools/test_wheel.sh --pytest --install
stage "all passed"
