# Kernel variants (kernels/cpu/variant.h): KRAIT_KERNEL_VARIANT_SOURCES compiled
# once per instruction set, each copy in namespace krait::kernels::<variant>,
# linked into one relocatable object whose symbols are all local except that
# namespace's (so the copies of shared inline code, Eigen's above all, compiled
# for one instruction set are never called from another), then added to
# krait_core. kernels/cpu/dispatch.cpp picks one at run time.

set(KRAIT_KERNEL_VARIANTS portable)
set(KRAIT_KERNEL_VARIANT_FLAGS_portable "")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT KRAIT_NATIVE)
  list(APPEND KRAIT_KERNEL_VARIANTS avx2 avx512)
  set(KRAIT_KERNEL_VARIANT_FLAGS_avx2 -march=x86-64-v3 -mtune=generic)
  # GCC's default for x86-64-v4 auto-vectorises with 256-bit vectors; the
  # intrinsics and Eigen use 512 bits, and so should the plain loops.
  set(KRAIT_KERNEL_VARIANT_FLAGS_avx512 -march=x86-64-v4 -mtune=generic -mprefer-vector-width=512)
endif()

# The relocatable link below needs GNU ld (--force-group-allocation); CMake's CMAKE_LINKER is
# ld.lld when the compiler is clang, which has no such option.
find_program(KRAIT_RELOCATABLE_LINKER NAMES ld.bfd ld NAMES_PER_DIR)
if(NOT KRAIT_RELOCATABLE_LINKER)
  set(KRAIT_RELOCATABLE_LINKER ${CMAKE_LINKER})
endif()

foreach(variant IN LISTS KRAIT_KERNEL_VARIANTS)
  set(objects krait_kernels_${variant})
  add_library(${objects} OBJECT ${KRAIT_KERNEL_VARIANT_SOURCES})
  target_include_directories(${objects} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${objects} PRIVATE Eigen3::Eigen)
  target_compile_definitions(${objects} PRIVATE KRAIT_KERNEL_VARIANT=${variant} EIGEN_DONT_PARALLELIZE
                             EIGEN_GEMM_TO_COEFFBASED_THRESHOLD=0)
  # -fno-gnu-unique: static locals of inline functions (Eigen's cache sizes, ...) become
  # weak symbols, which objcopy can make local, instead of STB_GNU_UNIQUE ones, which it cannot.
  # (GCC only: clang never emits STB_GNU_UNIQUE and does not know the flag.)
  target_compile_options(${objects} PRIVATE ${KRAIT_KERNEL_VARIANT_FLAGS_${variant}}
                         $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)

  # Itanium mangling of the namespace prefix krait::kernels::<variant>::
  string(LENGTH ${variant} length)
  set(keep "_ZN5krait7kernels${length}${variant}*")
  set(linked ${CMAKE_CURRENT_BINARY_DIR}/krait_kernels_${variant}.o)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${KRAIT_RELOCATABLE_LINKER} -r --force-group-allocation -o ${linked} $<TARGET_OBJECTS:${objects}>
    COMMAND ${CMAKE_OBJCOPY} --wildcard --keep-global-symbol=${keep} ${linked}
    DEPENDS ${objects} $<TARGET_OBJECTS:${objects}>
    COMMAND_EXPAND_LISTS VERBATIM
    COMMENT "Linking the ${variant} kernels into one object with local symbols")
  set_source_files_properties(${linked} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  target_sources(krait_core PRIVATE ${linked})
  string(TOUPPER ${variant} upper)
  target_compile_definitions(krait_core PRIVATE KRAIT_HAVE_VARIANT_${upper})
endforeach()
