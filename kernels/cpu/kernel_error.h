// How kernels report a broken precondition. Kernels depend on nothing in sdk/
// (they are the bottom layer, reusable on their own and by other backends), so
// they throw standard exceptions: std::invalid_argument for arguments that
// break the kernel's contract (a bug in the caller: the SDK validates user
// input before it calls a kernel; the C ABI reports it as KRAIT_ERR_INTERNAL)
// and std::bad_alloc when memory runs out (KRAIT_ERR_OUT_OF_MEMORY).
#pragma once

#include <stdexcept>
#include <string>

namespace krait::kernels {

[[noreturn]] inline void fail_kernel_argument(const std::string& message) { throw std::invalid_argument(message); }

}  // namespace krait::kernels
