#include "kernels/cpu/conv2d.h"

namespace krait::kernels {

void conv2d_ref(const Conv2dParams& p) {
    const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t oc = 0; oc < p.out_channels; ++oc)
            for (int64_t oh = 0; oh < p.out_h; ++oh)
                for (int64_t ow = 0; ow < p.out_w; ++ow) {
                    const int64_t g = oc / cout_g;
                    double acc = p.bias ? p.bias[oc] : 0.0;
                    for (int64_t ic = 0; ic < cin_g; ++ic)
                        for (int64_t kh = 0; kh < p.kernel_h; ++kh)
                            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                                const int64_t ih = oh * p.stride - p.padding + kh;
                                const int64_t iw = ow * p.stride - p.padding + kw;
                                if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
                                const float xv = p.x[((b * p.in_channels + g * cin_g + ic) * p.in_h + ih) * p.in_w + iw];
                                const float wv = p.weight[((oc * cin_g + ic) * p.kernel_h + kh) * p.kernel_w + kw];
                                acc += static_cast<double>(xv) * wv;
                            }
                    p.y[((b * p.out_channels + oc) * p.out_h + oh) * p.out_w + ow] = static_cast<float>(acc);
                }
}

}  // namespace krait::kernels
