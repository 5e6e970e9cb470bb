# libFuzzer harnesses (tests/fuzz, docs/RELIABILITY.md "Fuzzing"): -DKRAIT_FUZZ=ON with clang.
#
# Included from the root CMakeLists.txt after krait_core, the kernel variants and the shared library
# are defined and before the optional subdirectories: the core (and everything built after this
# point) is compiled with coverage feedback for libFuzzer (-fsanitize=fuzzer-no-link) under
# AddressSanitizer + UndefinedBehaviorSanitizer, and tests/fuzz links one fuzzer per parser
# (-fsanitize=fuzzer) against the static krait_core. KRAIT_SANITIZE=address already gives
# ASan + UBSan; then only the fuzzer instrumentation is added. Run them with tools/fuzz.sh.
option(KRAIT_FUZZ "Build the libFuzzer harnesses in tests/fuzz (clang only; ASan + UBSan)" OFF)
if(NOT KRAIT_FUZZ)
  return()
endif()

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "KRAIT_FUZZ needs clang with its libFuzzer runtime (Debian: clang, libclang-rt-14-dev); "
                      "configure with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "
                      "(this is ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION})")
endif()
if(KRAIT_SANITIZE STREQUAL "thread")
  message(FATAL_ERROR "KRAIT_FUZZ runs under ASan + UBSan: leave KRAIT_SANITIZE empty or set it to 'address'")
endif()

# Does this clang have the fuzzer runtime (libclang_rt.fuzzer-*.a)?
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
check_cxx_source_compiles([[
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
]] KRAIT_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
if(NOT KRAIT_HAVE_LIBFUZZER)
  message(FATAL_ERROR "KRAIT_FUZZ: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer "
                      "(Debian: install libclang-rt-${CMAKE_CXX_COMPILER_VERSION_MAJOR}-dev)")
endif()

set(KRAIT_FUZZ_COMPILE_FLAGS -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -gline-tables-only)
set(KRAIT_FUZZ_LINK_FLAGS "")
if(NOT KRAIT_SANITIZE STREQUAL "address")
  list(APPEND KRAIT_FUZZ_COMPILE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  set(KRAIT_FUZZ_LINK_FLAGS -fsanitize=address,undefined)
endif()

# Targets already defined: the core, its kernel variants (object libraries), the shared library.
target_compile_options(krait_core PRIVATE ${KRAIT_FUZZ_COMPILE_FLAGS})
foreach(variant IN LISTS KRAIT_KERNEL_VARIANTS)
  target_compile_options(krait_kernels_${variant} PRIVATE ${KRAIT_FUZZ_COMPILE_FLAGS})
endforeach()
target_compile_options(krait PRIVATE ${KRAIT_FUZZ_COMPILE_FLAGS})
target_link_options(krait PRIVATE ${KRAIT_FUZZ_LINK_FLAGS})
# Targets defined after this point (cli, samples, tests, bench when enabled).
add_compile_options(${KRAIT_FUZZ_COMPILE_FLAGS})
add_link_options(${KRAIT_FUZZ_LINK_FLAGS})

add_subdirectory(${PROJECT_SOURCE_DIR}/tests/fuzz ${PROJECT_BINARY_DIR}/fuzz)
