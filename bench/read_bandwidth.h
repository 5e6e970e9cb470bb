// The memory bound of the benchmarks: how fast `threads` threads read a buffer much larger than the
// caches, as decoding reads its weights. Shared by krait-bench-mamba, -decode and -gemm.
#pragma once

#include <cstddef>

namespace krait_bench {

// GB/s, best of `repeats`: each thread sums its slice of a `bytes`-byte float buffer.
double read_bandwidth_gbs(int threads, size_t bytes = size_t{512} << 20, int repeats = 3);

}  // namespace krait_bench
