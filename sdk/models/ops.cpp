#include "sdk/models/ops.h"

namespace krait {

void run_linear(ThreadPool& pool, const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y,
                int64_t y_stride, bool accumulate) {
    kernels::LinearParams p;
    p.rows = rows;
    p.in_features = layer.in_features;
    p.out_features = layer.out_features;
    p.x = x;
    p.x_stride = x_stride;
    p.weight = layer.weight;
    p.bias = layer.bias;
    p.y = y;
    p.y_stride = y_stride;
    p.accumulate = accumulate;
    // Whole cache lines of output per thread; small layers stay on one thread.
    const int64_t grain = rows == 1 ? 64 : 32;
    pool.parallel_for(layer.out_features, grain, [&](int64_t begin, int64_t end) { kernels::linear(p, begin, end); });
}

}  // namespace krait
