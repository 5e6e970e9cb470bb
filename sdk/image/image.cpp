#include "sdk/image/image.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"

// stb_image is compiled here and only here. STB_IMAGE_STATIC keeps every stbi_* symbol
// private to this translation unit, so another part of a program that embeds its own
// copy of stb_image cannot clash with ours. Only the four formats the SDK promises are
// compiled in; everything else is refused as "unknown image type".
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_NO_STDIO  // we read files ourselves so file and memory inputs fail the same way
#define STBI_NO_LINEAR
#define STBI_NO_HDR
// Zeroed allocations: on some malformed JPEGs (e.g. a scan naming a Huffman table that was never
// defined) stb v2.27 reads memory it never wrote, so results varied from run to run. With calloc
// such reads see zeros and every input gets the same, deterministic answer.
#define STBI_MALLOC(sz) std::calloc(1, (sz))
#define STBI_REALLOC(p, newsz) std::realloc((p), (newsz))
#define STBI_FREE(p) std::free(p)
// stb's internal consistency asserts would abort the process on crafted input in builds without
// NDEBUG; the SDK reports bad input as errors instead, so they are compiled out everywhere (as in
// release builds).
#define STBI_ASSERT(x) ((void)0)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
// stb v2.27 calls memcpy(NULL, src, 0) for a PNG whose first IDAT chunk is empty: harmless in
// practice but undefined behaviour (UBSan's nonnull check aborts sanitizer builds). Route stb's
// memcpy calls through a wrapper that skips empty copies.
namespace {
inline void* stbi_memcpy_checked(void* dst, const void* src, size_t n) {
    return n == 0 ? dst : std::memcpy(dst, src, n);
}
}  // namespace
#define memcpy stbi_memcpy_checked
#include <stb/stb_image.h>
#undef memcpy
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace krait {

namespace {

std::string size_text(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

void check_pixel_count(int64_t w, int64_t h, int64_t max_pixels, const std::string& origin) {
    if (w <= 0 || h <= 0) fail_argument(origin + ": image has zero size (" + size_text(w, h) + ")");
    // Header sizes are below 2^32 each, so the product fits in uint64.
    const uint64_t pixels = uint64_t(w) * uint64_t(h);
    if (max_pixels > 0 && pixels > uint64_t(max_pixels))
        fail_argument(origin + ": image is " + size_text(w, h) + " = " + std::to_string(pixels) +
                      " pixels, above the limit of " + std::to_string(max_pixels) + " pixels");
}

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
int32_t le32(const uint8_t* p) { return int32_t(uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24)); }

// The size a PNG / GIF / BMP header claims, read from its fixed offsets, so that a
// header saying 0 pixels is reported as a zero-size image rather than whatever stb
// makes of it ("0-pixel image", or an allocation failure for GIF). Returns false when
// the buffer is not one of these formats or too short to tell.
bool peek_header_size(const uint8_t* d, size_t n, int64_t& w, int64_t& h) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n >= 24 && std::memcmp(d, png_sig, 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0) {
        w = be32(d + 16);
        h = be32(d + 20);
        return true;
    }
    if (n >= 10 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
        w = le16(d + 6);
        h = le16(d + 8);
        return true;
    }
    if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
        const uint32_t hsz = uint32_t(le32(d + 14));
        if (hsz == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
            w = le16(d + 18);
            h = le16(d + 20);
        } else {
            w = le32(d + 18);
            h = le32(d + 22);
            if (h < 0) h = -h;  // negative height = top-down rows
        }
        return true;
    }
    return false;
}

// The first frame of a GIF: checks its data is all present (see check_complete) and returns the
// colour PIL gives its transparent pixels. PIL keeps frame 0 as a palette image whose transparent
// pixels (and the area outside the frame) hold the transparent index, so convert("RGB") shows that
// palette entry's colour; stb returns them as transparent black instead.
struct GifInfo {
    bool has_transparency = false;
    uint8_t rgb[3] = {0, 0, 0};
};

GifInfo gif_first_frame(const uint8_t* d, size_t n, const std::string& origin) {
    auto truncated = [&]() { fail_format(origin + ": truncated GIF (" + std::to_string(n) + " bytes)"); };
    GifInfo info;
    if (n < 13) truncated();
    size_t p = 13;
    const uint8_t* palette = nullptr;
    size_t palette_entries = 0;
    if (d[10] & 0x80) {  // global colour table
        palette = d + 13;
        palette_entries = size_t(1) << ((d[10] & 7) + 1);
        p += 3 * palette_entries;
    }
    int trans_index = -1;
    auto skip_sub_blocks = [&]() {
        while (true) {
            if (p >= n) truncated();
            const uint8_t len = d[p++];
            if (len == 0) return;
            p += len;
        }
    };
    while (true) {
        if (p >= n) truncated();
        const uint8_t tag = d[p++];
        if (tag == 0x21) {  // extension: label, then sub-blocks
            if (p + 6 <= n && d[p] == 0xF9 && d[p + 1] == 4) {  // graphic control: transparency flag and index
                trans_index = (d[p + 2] & 1) ? d[p + 5] : -1;
            }
            ++p;
            skip_sub_blocks();
        } else if (tag == 0x2C) {  // image descriptor
            if (p + 9 > n) truncated();
            const uint8_t flags = d[p + 8];
            p += 9;
            if (flags & 0x80) {  // local colour table replaces the global one for this frame
                palette = d + p;
                palette_entries = size_t(1) << ((flags & 7) + 1);
                p += 3 * palette_entries;
            }
            ++p;  // LZW minimum code size
            skip_sub_blocks();
            if (trans_index >= 0) {
                info.has_transparency = true;
                if (palette && size_t(trans_index) < palette_entries && palette + 3 * trans_index + 3 <= d + n)
                    for (int c = 0; c < 3; ++c) info.rgb[c] = palette[3 * trans_index + c];
            }
            return info;
        } else {
            return info;  // trailer or garbage: stb reports it
        }
    }
}

// stb_image decodes a truncated BMP or GIF without complaint (missing data reads as zeros),
// where PIL refuses it ("image file is truncated"). Check that the data the header promises
// is present. (Truncated PNG and JPEG already fail inside stb.)
void check_complete(const uint8_t* d, size_t n, const std::string& origin) {
    auto truncated = [&](const std::string& what) {
        fail_format(origin + ": truncated " + what + " (" + std::to_string(n) + " bytes)");
    };
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
        if (n < 34) truncated("BMP header");
        const uint32_t off = uint32_t(le32(d + 10)), hsz = uint32_t(le32(d + 14));
        if (hsz < 40) return;  // OS/2 core header: left to stb
        const int64_t w = le32(d + 18), h = std::abs(int64_t(le32(d + 22)));
        const uint16_t bpp = le16(d + 28);
        const uint32_t compression = uint32_t(le32(d + 30));
        if (compression != 0 && compression != 3 && compression != 6) return;  // RLE: variable size
        if (w <= 0 || bpp == 0 || bpp > 32) return;                            // stb reports these
        const int64_t stride = ((w * bpp + 31) / 32) * 4;
        if (int64_t(n) < int64_t(off) + stride * h)
            truncated("BMP: pixel data needs " + std::to_string(int64_t(off) + stride * h) + " bytes");
        return;
    }
    if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) gif_first_frame(d, n, origin);
}

// Debian's stb_image (v2.27) trusts the code counts of a JPEG Huffman table (DHT): more than
// 256 codes overrun its fixed tables (a heap overflow on crafted files; fixed upstream later).
// Walk the JPEG's segments, skipping entropy-coded data, and refuse such tables before stb sees them.
void check_jpeg_tables(const uint8_t* d, size_t n, const std::string& origin) {
    // SOI as stb reads it: 0xFF, any number of fill bytes 0xFF, then 0xD8 (so FF FF D8 is a JPEG too).
    if (n < 4 || d[0] != 0xFF) return;
    size_t p = 1;
    while (p < n && d[p] == 0xFF) ++p;
    if (p >= n || d[p] != 0xD8) return;
    ++p;
    auto byte = [&](size_t i) -> size_t { return i < n ? d[i] : 0; };  // stb reads 0 past the end
    while (p + 1 < n) {
        // Like stb, step over bytes that are not a marker one at a time.
        if (d[p] != 0xFF) {
            ++p;
            continue;
        }
        while (p < n && d[p] == 0xFF) ++p;  // fill bytes
        if (p >= n) return;
        const uint8_t m = d[p++];
        if (m == 0x00 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // no length
        if (m == 0xD9) return;                                                            // EOI
        const size_t len = (byte(p) << 8) | byte(p + 1);
        if (m == 0xC4) {
            // As stb's DHT loop: tables while the remaining length is positive, even past the segment.
            size_t q = p + 2;
            long remaining = long(len) - 2;
            while (remaining > 0 && q < n) {
                size_t codes = 0;
                for (size_t i = 1; i <= 16; ++i) codes += byte(q + i);
                if (codes > 256)
                    fail_format(origin + ": corrupt JPEG: Huffman table with " + std::to_string(codes) +
                                " codes (at most 256)");
                q += 17 + codes;
                remaining -= long(17 + codes);
            }
            p = q;
            continue;
        }
        p += std::max<size_t>(len, 2);
        if (m == 0xDA) {  // start of scan: skip entropy-coded data up to the next real marker
            while (p + 1 < n && !(d[p] == 0xFF && d[p + 1] != 0x00 && !(d[p + 1] >= 0xD0 && d[p + 1] <= 0xD7))) ++p;
        }
    }
}

// Names well-known formats stb (as compiled here) does not read, for a clearer message.
const char* sniff_unsupported(const uint8_t* d, size_t n) {
    if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
    if (n >= 4 && std::memcmp(d, "8BPS", 4) == 0) return "PSD";
    if (n >= 4 && std::memcmp(d, "\0\0\1\0", 4) == 0) return "ICO";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PNM";
    if (n >= 4 && std::memcmp(d, "qoif", 4) == 0) return "QOI";
    if (n >= 5 && (std::memcmp(d, "<?xml", 5) == 0 || std::memcmp(d, "<svg", 4) == 0)) return "SVG";
    return nullptr;
}

struct StbFree {
    void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

}  // namespace

Image decode_image(const uint8_t* data, size_t size, int64_t max_pixels, const std::string& origin) {
    if (data == nullptr && size != 0) fail_argument(origin + ": image data pointer is NULL");
    if (size == 0) fail_argument(origin + ": image data is empty (0 bytes)");
    // stb takes an int length.
    if (size > size_t(std::numeric_limits<int>::max()))
        fail_argument(origin + ": image data is " + std::to_string(size) + " bytes, above the 2 GiB decoder limit");
    const int len = int(size);

    if (const char* other = sniff_unsupported(data, size))
        fail_format(origin + ": " + other + " images are not supported (supported: PNG, JPEG, BMP, GIF)");

    // Our own header read first: stb's info call, on failure, reports the reason of the last
    // format it tried, which would hide "too large" behind "unknown image type".
    int64_t hw = 0, hh = 0;
    if (peek_header_size(data, size, hw, hh)) check_pixel_count(hw, hh, max_pixels, origin);
    check_complete(data, size, origin);
    check_jpeg_tables(data, size, origin);

    // Header only: size checks come before any pixel is decompressed.
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
        const std::string why = stbi_failure_reason() ? stbi_failure_reason() : "unknown error";
        if (why == "unknown image type")
            fail_format(origin + ": not a PNG, JPEG, BMP or GIF image, or its header is corrupt (stb_image: " + why +
                        ")");
        fail_format(origin + ": cannot read the image header (stb_image: " + why + ")");
    }
    check_pixel_count(w, h, max_pixels, origin);

    GifInfo gif;
    if (size >= 6 && (std::memcmp(data, "GIF87a", 6) == 0 || std::memcmp(data, "GIF89a", 6) == 0))
        gif = gif_first_frame(data, size, origin);
    const int channels = gif.has_transparency ? 4 : 3;

    // Ask for 3 channels: stb then replicates gray and drops alpha, as PIL convert("RGB").
    int dw = 0, dh = 0, dcomp = 0;
    std::unique_ptr<stbi_uc, StbFree> pixels(stbi_load_from_memory(data, len, &dw, &dh, &dcomp, channels));
    if (!pixels) {
        const std::string why = stbi_failure_reason() ? stbi_failure_reason() : "unknown error";
        fail_format(origin + ": corrupt or truncated image (stb_image: " + why + ")");
    }
    if (dw != w || dh != h)  // cannot happen with a consistent decoder; guard the buffer size anyway
        fail_format(origin + ": image header says " + size_text(w, h) + " but decoded " + size_text(dw, dh));

    Image img;
    img.width = dw;
    img.height = dh;
    if (channels == 3) {
        img.rgb.assign(pixels.get(), pixels.get() + size_t(dw) * size_t(dh) * 3);
        return img;
    }
    // Transparent GIF: pixels stb marks transparent take the transparent palette entry's colour.
    img.rgb.resize(size_t(dw) * size_t(dh) * 3);
    for (size_t i = 0; i < size_t(dw) * size_t(dh); ++i) {
        const stbi_uc* src = pixels.get() + 4 * i;
        for (int c = 0; c < 3; ++c) img.rgb[3 * i + c] = src[3] == 0 ? gif.rgb[c] : src[c];
    }
    return img;
}

Image load_image_file(const std::string& path, int64_t max_pixels) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail_io(path + ": is a directory, not an image file");
    const std::string bytes = read_text_file(path, path + ": cannot open image file");  // bytes, not text
    return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), max_pixels, path);
}

Image image_from_pixels(const uint8_t* pixels, int64_t width, int64_t height, int64_t row_stride, int channels,
                        int64_t max_pixels) {
    const std::string origin = "pixel buffer";
    if (channels != 1 && channels != 3 && channels != 4)
        fail_argument(origin + ": channels is " + std::to_string(channels) + ", expected 1 (gray), 3 (RGB) or 4 (RGBA)");
    if (width <= 0 || height <= 0 || width > std::numeric_limits<int32_t>::max() ||
        height > std::numeric_limits<int32_t>::max())
        fail_argument(origin + ": image size " + size_text(width, height) + " is not positive or too large");
    if (!pixels) fail_argument(origin + ": pixel pointer is NULL");
    check_pixel_count(width, height, max_pixels, origin);
    const int64_t row_bytes = width * channels;
    if (row_stride == 0) row_stride = row_bytes;
    if (row_stride < row_bytes)
        fail_argument(origin + ": row stride " + std::to_string(row_stride) + " is smaller than a row of " +
                      std::to_string(row_bytes) + " bytes (" + std::to_string(width) + " pixels x " +
                      std::to_string(channels) + " channels)");

    Image img;
    img.width = width;
    img.height = height;
    img.rgb.resize(size_t(width * height * 3));
    for (int64_t y = 0; y < height; ++y) {
        const uint8_t* src = pixels + y * row_stride;
        uint8_t* dst = img.rgb.data() + y * width * 3;
        if (channels == 3) {
            std::memcpy(dst, src, size_t(row_bytes));
            continue;
        }
        for (int64_t x = 0; x < width; ++x) {
            if (channels == 1) {
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
            } else {  // RGBA: alpha dropped, not composited (PIL convert("RGB"))
                dst[3 * x] = src[4 * x];
                dst[3 * x + 1] = src[4 * x + 1];
                dst[3 * x + 2] = src[4 * x + 2];
            }
        }
    }
    return img;
}

}  // namespace krait
