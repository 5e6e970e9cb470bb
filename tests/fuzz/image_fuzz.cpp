// Images from memory (sdk/image/image.h: stb_image restricted to PNG, JPEG (baseline and
// progressive), BMP and GIF, the size check before decoding, conversion to RGB), then the
// preprocessing of a decoded picture (Pillow-exact bicubic resize, center crop, normalisation).
// max_pixels is 4 Mpx here (the SDK's default is PIL's 89.5 Mpx) so that a valid large picture
// costs the fuzzer milliseconds, not seconds; bombs past it must be refused before decoding.
#include <cstdlib>
#include <vector>

#include "fuzz_common.h"
#include "sdk/image/image.h"
#include "sdk/image/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr int64_t kMaxPixels = int64_t(1) << 22;
    krait_fuzz::run("image", [&] {
        const krait::Image img = krait::decode_image(data, size, kMaxPixels, "fuzz image");
        if (img.width <= 0 || img.height <= 0 || img.width * img.height > kMaxPixels ||
            img.rgb.size() != static_cast<size_t>(img.width * img.height * 3))
            std::abort();
        krait::PreprocessConfig cfg;
        cfg.resize_h = cfg.resize_w = 12;
        cfg.resample = krait::Resample::Bicubic;
        cfg.do_center_crop = true;
        cfg.crop_h = cfg.crop_w = 10;
        const auto [h, w] = krait::preprocess_output_size(cfg, img.height, img.width);
        std::vector<float> out(static_cast<size_t>(3 * h * w));
        krait::preprocess(img, cfg, out.data());
    });
    return 0;
}
