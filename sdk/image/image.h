// Image input: decoding files and memory buffers to 8-bit RGB, and wrapping raw
// caller pixel buffers the same way.
//
// Decoding uses stb_image (Debian libstb-dev) restricted to PNG, JPEG, BMP and GIF
// (first frame). Every decoded image is 3-channel RGB, exactly what PIL's
// Image.convert("RGB") gives: grayscale is replicated into R=G=B, alpha is dropped
// (not composited), palettes are expanded, 16-bit PNG samples keep their high byte.
// The pixel count is checked from the header BEFORE any pixel is decompressed, so a
// small file that claims a huge image (a decompression bomb) is refused cheaply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace krait {

// Default limit on width*height for decoded images (about 89.5 Mpx, PIL's own
// decompression-bomb warning threshold). Callers pass their own limit; max_pixels <= 0
// means no limit beyond the decoder's own (stb: 2^24 per side, 2^31 bytes).
inline constexpr int64_t kDefaultMaxImagePixels = 89478485;

struct Image {
    int64_t width = 0, height = 0;
    std::vector<uint8_t> rgb;  // [height, width, 3], row-major, no padding
};

// Decodes a PNG / JPEG / BMP / GIF held in memory. `origin` names the source in
// messages (a path, "image 3", ...).
// Throws KRAIT_ERR_FORMAT for corrupt, truncated or unsupported data (message names
// origin and the decoder's reason), KRAIT_ERR_INVALID_ARGUMENT for an empty buffer,
// a zero-size image or one above max_pixels (message names the size and the limit).
Image decode_image(const uint8_t* data, size_t size, int64_t max_pixels, const std::string& origin);

// Reads and decodes a file. KRAIT_ERR_IO if it cannot be read; otherwise as decode_image.
Image load_image_file(const std::string& path, int64_t max_pixels);

// Wraps raw uint8 pixels [height, row_stride bytes] with 1 (gray), 3 (RGB) or 4 (RGBA)
// channels, converted to RGB like decode_image. row_stride 0 means width*channels.
// KRAIT_ERR_INVALID_ARGUMENT for a null pointer, bad channels, zero or negative size,
// a stride smaller than a row, or more than max_pixels.
Image image_from_pixels(const uint8_t* pixels, int64_t width, int64_t height, int64_t row_stride, int channels,
                        int64_t max_pixels);

}  // namespace krait
