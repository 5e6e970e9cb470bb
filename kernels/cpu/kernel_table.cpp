// The KernelTable of the variant this file is compiled for (variant.h): one
// copy per variant, each naming its own variant's entry points.
#include "kernels/cpu/dispatch.h"

#define KRAIT_STRINGIFY_(x) #x
#define KRAIT_STRINGIFY(x) KRAIT_STRINGIFY_(x)

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

const KernelTable& kernel_table() {
    static constexpr KernelTable table = {
        .variant = CpuVariant::KRAIT_KERNEL_VARIANT,
        .name = KRAIT_STRINGIFY(KRAIT_KERNEL_VARIANT),
        .gemm_packed = &gemm_packed,
        .linear = &linear,
        .linear_half = &linear_half,
        .widen_half = &widen_half,
        .lora_up = &lora_up,
        .attention = &attention,
        .rope = &rope,
        .rms_norm = &rms_norm,
        .layer_norm = &layer_norm,
        .apply_activation = &apply_activation,
        .causal_conv1d = &causal_conv1d,
        .same_conv1d = &same_conv1d,
        .selective_scan = &selective_scan,
        .ssd_chunked = &ssd_chunked,
        .ssd_scan = &ssd_scan,
        .gated_rms_norm = &gated_rms_norm,
        .conv2d_depthwise = &conv2d_depthwise,
        .conv2d_gemm_tile = &conv2d_gemm_tile,
        .winograd43_chunk = &winograd43_chunk,
    };
    return table;
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
