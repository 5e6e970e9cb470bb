// Threaded building blocks shared by every model: each splits one kernel
// from kernels/cpu over a session's ThreadPool. Written once, used by all.
#pragma once

#include <cstdint>

#include "kernels/cpu/linear.h"
#include "sdk/core/thread_pool.h"

namespace krait {

// An nn.Linear as loaded: weight [out, in] row-major, optional bias [out].
struct Linear {
    const float* weight = nullptr;
    const float* bias = nullptr;
    int64_t in_features = 0;
    int64_t out_features = 0;
};

// y[rows, out] (=|+=) x[rows, in] W^T + b, split over output features.
void run_linear(ThreadPool& pool, const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y,
                int64_t y_stride, bool accumulate = false);

}  // namespace krait
