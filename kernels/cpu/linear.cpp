#include "kernels/cpu/linear.h"

#include <Eigen/Core>

#include "kernels/cpu/linear_half.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

void linear(const LinearParams& p, int64_t n_begin, int64_t n_end) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strided = Eigen::Stride<Eigen::Dynamic, 1>;
    if (p.weight_type != WeightType::F32) return linear_half(p, n_begin, n_end);
    const int64_t n = n_end - n_begin;
    if (n <= 0 || p.rows <= 0) return;
    Eigen::Map<const RowMajor> W(p.weight + n_begin * p.in_features, n, p.in_features);
    if (p.rows == 1) {
        // Decode: a GEMV that streams this thread's weight rows once.
        Eigen::Map<const Eigen::VectorXf> x(p.x, p.in_features);
        Eigen::Map<Eigen::VectorXf> y(p.y + n_begin, n);
        if (p.accumulate) y.noalias() += W * x;
        else y.noalias() = W * x;
        if (p.bias) y += Eigen::Map<const Eigen::VectorXf>(p.bias + n_begin, n);
        return;
    }
    Eigen::Map<const RowMajor, 0, Strided> X(p.x, p.rows, p.in_features, Strided(p.x_stride, 1));
    Eigen::Map<RowMajor, 0, Strided> Y(p.y + n_begin, p.rows, n, Strided(p.y_stride, 1));
    if (p.accumulate) Y.noalias() += X * W.transpose();
    else Y.noalias() = X * W.transpose();
    if (p.bias) Y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(p.bias + n_begin, n);
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
