// Resizing 8-bit RGB images exactly as Pillow's Image.resize does.
//
// Both reference pipelines Krait follows (HF image processors, timm/torchvision eval
// transforms) resize a PIL uint8 image, so matching Pillow bit for bit is what makes
// Krait's model inputs equal theirs. Pillow's algorithm (libImaging/Resample.c):
//  * separable convolution, one pass per axis that changes size, each pass rounding and
//    clipping to uint8; horizontal first, except (Pillow >= 13) vertical first when the height
//    shrinks by more than twice as many pixels as the width;
//  * when downscaling, the filter support is stretched by the scale (antialiasing);
//  * coefficients are normalised per output pixel, then quantised to fixed point with
//    22 fractional bits; sums start at 0.5 (rounding) and are clipped to 0..255;
//  * bicubic uses a = -0.5; NEAREST is a separate path (affine scaling, pixel centres).
//  * supports: box 0.5, bilinear 1, hamming 1, bicubic 2, lanczos 3 (before scaling).
#pragma once

#include <cstdint>
#include <string>

#include "sdk/image/image.h"

namespace krait {

// Pillow's filters. HF configs store them as PIL enum ints (see resample_from_pil).
enum class Resample { Nearest, Box, Bilinear, Hamming, Bicubic, Lanczos };

// "nearest" | "box" | "bilinear" | "hamming" | "bicubic" | "lanczos" -> Resample;
// KRAIT_ERR_FORMAT naming `what` otherwise.
Resample parse_resample(const std::string& name, const std::string& what);
// PIL.Image.Resampling ints: 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING.
Resample resample_from_pil(int64_t value, const std::string& what);
const char* resample_name(Resample r);

// PIL: img.resize((out_w, out_h), resample). out_w, out_h >= 1.
Image resize_like_pil(const Image& img, int64_t out_w, int64_t out_h, Resample r);

}  // namespace krait
