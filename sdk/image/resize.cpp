#include "sdk/image/resize.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "sdk/core/error.h"

namespace krait {

namespace {

// Pillow's PRECISION_BITS: 8 bits of result, 2 of headroom for filters with negative
// lobes, the rest fraction.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double hamming_filter(double x) {
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * std::numbers::pi;
    return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants as in Pillow
}

double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * std::numbers::pi;
    return std::sin(x) / x;
}

double lanczos_filter(double x) {
    // truncated sinc, a = 3
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

double bicubic_filter(double x) {
    constexpr double a = -0.5;  // Pillow's choice (Keys' cubic); not -0.75 as in OpenCV/PyTorch
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

// Per output pixel: the first input index, the tap count, and ksize fixed-point weights.
struct Coeffs {
    int ksize = 0;
    std::vector<int> start, count;
    std::vector<int32_t> k;  // [out, ksize]
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for box [0, in_size).
Coeffs precompute(int in_size, int out_size, Resample r) {
    double (*filter)(double) = bilinear_filter;
    double base_support = 1.0;
    switch (r) {
        case Resample::Box: filter = box_filter; base_support = 0.5; break;
        case Resample::Bilinear: filter = bilinear_filter; base_support = 1.0; break;
        case Resample::Hamming: filter = hamming_filter; base_support = 1.0; break;
        case Resample::Bicubic: filter = bicubic_filter; base_support = 2.0; break;
        case Resample::Lanczos: filter = lanczos_filter; base_support = 3.0; break;
        case Resample::Nearest: break;  // not reached: separate path
    }

    // Pillow passes the box as floats; for integer sizes the value is exact.
    const double in0 = 0.0, in1 = double(float(in_size));
    const double scale = (in1 - in0) / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = base_support * filterscale;
    Coeffs c;
    c.ksize = int(std::ceil(support)) * 2 + 1;
    c.start.resize(size_t(out_size));
    c.count.resize(size_t(out_size));
    c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
    std::vector<double> w(size_t(c.ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = in0 + (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = int(center - support + 0.5);  // truncation, as Pillow's (int) cast
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[size_t(x)] = filter((x + xmin - center + 0.5) * ss);
            ww += w[size_t(x)];
        }
        int32_t* k = &c.k[size_t(xx) * size_t(c.ksize)];
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
            k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
        }
        c.start[size_t(xx)] = xmin;
        c.count[size_t(xx)] = xmax;
    }
    return c;
}

inline uint8_t clip8(int32_t v) {
    const int32_t s = v >> kPrecisionBits;  // arithmetic shift (C++20), as Pillow's lookup index
    return uint8_t(s < 0 ? 0 : (s > 255 ? 255 : s));
}

// in [rows, in_w, 3] -> out [rows, out_w, 3]
void horizontal_pass(const uint8_t* in, int64_t rows, int64_t in_w, const Coeffs& c, int64_t out_w, uint8_t* out) {
    for (int64_t y = 0; y < rows; ++y) {
        const uint8_t* src = in + y * in_w * 3;
        uint8_t* dst = out + y * out_w * 3;
        for (int64_t xx = 0; xx < out_w; ++xx) {
            const int32_t* k = &c.k[size_t(xx) * size_t(c.ksize)];
            const uint8_t* p = src + int64_t(c.start[size_t(xx)]) * 3;
            int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < c.count[size_t(xx)]; ++x) {
                s0 += p[3 * x] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            dst[3 * xx] = clip8(s0);
            dst[3 * xx + 1] = clip8(s1);
            dst[3 * xx + 2] = clip8(s2);
        }
    }
}

// in [in_h, w, 3] -> out [out_h, w, 3]; `row0` shifts the coefficient start rows.
void vertical_pass(const uint8_t* in, int64_t w, const Coeffs& c, int row0, int64_t out_h, uint8_t* out) {
    const int64_t stride = w * 3;
    for (int64_t yy = 0; yy < out_h; ++yy) {
        const int32_t* k = &c.k[size_t(yy) * size_t(c.ksize)];
        const uint8_t* base = in + int64_t(c.start[size_t(yy)] - row0) * stride;
        const int n = c.count[size_t(yy)];
        uint8_t* dst = out + yy * stride;
        for (int64_t i = 0; i < stride; ++i) {
            int32_t s = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < n; ++y) s += base[y * stride + i] * k[y];
            dst[i] = clip8(s);
        }
    }
}

// Pillow's NEAREST path (ImagingScaleAffine): sample at pixel centres, positions
// accumulated in double exactly as Pillow steps them.
Image resize_nearest(const Image& img, int64_t out_w, int64_t out_h) {
    const double ax = double(img.width) / double(out_w), ay = double(img.height) / double(out_h);
    std::vector<int64_t> xin(static_cast<size_t>(out_w));
    double xo = ax * 0.5;
    for (int64_t x = 0; x < out_w; ++x) {
        xin[size_t(x)] = std::min<int64_t>(img.width - 1, xo < 0.0 ? 0 : int64_t(xo));
        xo += ax;
    }
    Image out;
    out.width = out_w;
    out.height = out_h;
    out.rgb.resize(size_t(out_w * out_h * 3));
    double yo = ay * 0.5;
    for (int64_t y = 0; y < out_h; ++y) {
        const int64_t yi = std::min<int64_t>(img.height - 1, yo < 0.0 ? 0 : int64_t(yo));
        const uint8_t* src = img.rgb.data() + yi * img.width * 3;
        uint8_t* dst = out.rgb.data() + y * out_w * 3;
        for (int64_t x = 0; x < out_w; ++x)
            for (int ch = 0; ch < 3; ++ch) dst[3 * x + ch] = src[3 * xin[size_t(x)] + ch];
        yo += ay;
    }
    return out;
}

}  // namespace

Resample parse_resample(const std::string& name, const std::string& what) {
    if (name == "nearest") return Resample::Nearest;
    if (name == "box") return Resample::Box;
    if (name == "bilinear") return Resample::Bilinear;
    if (name == "hamming") return Resample::Hamming;
    if (name == "bicubic") return Resample::Bicubic;
    if (name == "lanczos") return Resample::Lanczos;
    fail_format(what + " is '" + name +
                "', expected one of \"nearest\", \"box\", \"bilinear\", \"hamming\", \"bicubic\", \"lanczos\"");
}

Resample resample_from_pil(int64_t value, const std::string& what) {
    switch (value) {
        case 0: return Resample::Nearest;
        case 1: return Resample::Lanczos;
        case 2: return Resample::Bilinear;
        case 3: return Resample::Bicubic;
        case 4: return Resample::Box;
        case 5: return Resample::Hamming;
        default:
            fail_format(what + " is " + std::to_string(value) +
                        ", expected a PIL resampling filter 0..5 (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, "
                        "5 hamming)");
    }
}

const char* resample_name(Resample r) {
    switch (r) {
        case Resample::Nearest: return "nearest";
        case Resample::Box: return "box";
        case Resample::Bilinear: return "bilinear";
        case Resample::Hamming: return "hamming";
        case Resample::Bicubic: return "bicubic";
        case Resample::Lanczos: return "lanczos";
    }
    return "?";
}

Image resize_like_pil(const Image& img, int64_t out_w, int64_t out_h, Resample r) {
    if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width * img.height * 3))
        fail_argument("resize: input image is empty or inconsistent (" + std::to_string(img.width) + "x" +
                      std::to_string(img.height) + ", " + std::to_string(img.rgb.size()) + " bytes)");
    if (out_w <= 0 || out_h <= 0 || out_w > (int64_t(1) << 24) || out_h > (int64_t(1) << 24))
        fail_argument("resize: target size " + std::to_string(out_w) + "x" + std::to_string(out_h) +
                      " is not positive or too large");
    if (out_w == img.width && out_h == img.height) return img;  // Pillow returns a copy
    if (r == Resample::Nearest) return resize_nearest(img, out_w, out_h);

    const Coeffs ch = precompute(int(img.width), int(out_w), r);
    const Coeffs cv = precompute(int(img.height), int(out_h), r);
    const bool need_h = out_w != img.width;
    const bool need_v = out_h != img.height;

    // Pass order. Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the
    // height shrinks by more than twice as many pixels as the width does; earlier Pillow always
    // ran horizontal first. Each pass rounds to uint8, so the order changes results by a few
    // levels; we follow Pillow 13 (the reference the fixtures are made with).
    const bool vertical_first = need_h && need_v && out_h < img.height && (img.height - out_h) > 2 * (img.width - out_w);
    if (vertical_first) {
        Image tmp;
        tmp.width = img.width;
        tmp.height = out_h;
        tmp.rgb.resize(size_t(img.width * out_h * 3));
        vertical_pass(img.rgb.data(), img.width, cv, 0, out_h, tmp.rgb.data());
        Image out;
        out.width = out_w;
        out.height = out_h;
        out.rgb.resize(size_t(out_w * out_h * 3));
        horizontal_pass(tmp.rgb.data(), out_h, img.width, ch, out_w, out.rgb.data());
        return out;
    }

    // Horizontal first, only over the rows the vertical pass will read (as Pillow).
    const int row_first = cv.start.front();
    const int row_last = cv.start.back() + cv.count.back();

    Image tmp;
    const Image* src = &img;
    int row0 = 0;
    if (need_h) {
        const int64_t rows = need_v ? row_last - row_first : img.height;
        const int first = need_v ? row_first : 0;
        tmp.width = out_w;
        tmp.height = rows;
        tmp.rgb.resize(size_t(rows * out_w * 3));
        horizontal_pass(img.rgb.data() + int64_t(first) * img.width * 3, rows, img.width, ch, out_w, tmp.rgb.data());
        src = &tmp;
        row0 = first;
    }
    if (!need_v) return tmp;
    Image out;
    out.width = src->width;
    out.height = out_h;
    out.rgb.resize(size_t(out.width * out_h * 3));
    vertical_pass(src->rgb.data(), src->width, cv, row0, out_h, out.rgb.data());
    return out;
}

}  // namespace krait
