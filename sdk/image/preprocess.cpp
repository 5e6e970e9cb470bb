#include "sdk/image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/limits.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {

using nlohmann::json;

// Field readers: absent or null -> fallback; wrong type or value -> KRAIT_ERR_FORMAT naming origin and field.
bool get_bool(const json& j, const char* key, bool fallback, const std::string& origin) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail_format(origin + ": field " + krait::quote(key) + " must be true or false, got " + it->dump());
    return it->get<bool>();
}

double number_value(const json& v, const std::string& field, const std::string& origin) {
    if (!v.is_number()) fail_format(origin + ": field " + krait::quote(field) + " must be a number, got " + v.dump());
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail_format(origin + ": field " + krait::quote(field) + " must be finite");
    return d;
}

int64_t positive_int(const json& v, const std::string& field, const std::string& origin) {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 65536)
        fail_format(origin + ": field " + krait::quote(field) + " must be an integer in 1..65536, got " + v.dump());
    return v.get<int64_t>();
}

// image_mean / image_std / mean / std: a list of 3 numbers (or one number for all channels).
void channel_triple(const json& j, const char* key, float out[3], bool positive, const std::string& origin) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    const std::string field = key;
    if (it->is_number()) {
        out[0] = out[1] = out[2] = float(number_value(*it, field, origin));
    } else if (it->is_array() && it->size() == 3) {
        for (size_t c = 0; c < 3; ++c) out[c] = float(number_value((*it)[c], field + "[" + std::to_string(c) + "]", origin));
    } else {
        fail_format(origin + ": field " + krait::quote(field) + " must be a list of 3 numbers (one per RGB channel), got " +
                    it->dump());
    }
    if (positive)
        for (int c = 0; c < 3; ++c)
            if (!(out[c] > 0.0f))
                fail_format(origin + ": field " + krait::quote(field) + " must be positive, got " + it->dump());
}

// HF size dicts: an int (square, or the shortest edge for processors whose default_to_square is False),
// {height, width}, {shortest_edge}.
void hf_size(const json& v, const std::string& field, const std::string& origin, ResizeMode& mode, int64_t& h,
             int64_t& w, int64_t& shortest, bool default_to_square = true) {
    if (v.is_number_integer()) {
        if (default_to_square) {
            mode = ResizeMode::Exact;
            h = w = positive_int(v, field, origin);
        } else {
            mode = ResizeMode::ShortestEdge;
            shortest = positive_int(v, field, origin);
        }
        return;
    }
    if (!v.is_object()) fail_format(origin + ": field " + krait::quote(field) + " must be an integer or an object, got " + v.dump());
    if (v.contains("height") || v.contains("width")) {
        if (!v.contains("height") || !v.contains("width"))
            fail_format(origin + ": field " + krait::quote(field) + " needs both 'height' and 'width', got " + v.dump());
        mode = ResizeMode::Exact;
        h = positive_int(v["height"], field + ".height", origin);
        w = positive_int(v["width"], field + ".width", origin);
        return;
    }
    if (v.contains("shortest_edge")) {
        if (v.contains("longest_edge") && !v["longest_edge"].is_null())
            fail_unsupported(origin + ": field '" + field +
                             "' with both shortest_edge and longest_edge is not supported (use height/width)");
        mode = ResizeMode::ShortestEdge;
        shortest = positive_int(v["shortest_edge"], field + ".shortest_edge", origin);
        return;
    }
    fail_format(origin + ": field " + krait::quote(field) + " must hold 'height' and 'width' or 'shortest_edge', got " + v.dump());
}

// Class attributes of the HF image processors read here (transformers' *ImageProcessorPil classes): the
// values of absent fields. The class is named by image_processor_type (either backend: "...Fast" / "...Pil")
// or, in older files, feature_extractor_type; anything else gets ViTImageProcessor's.
struct HfProcessorDefaults {
    ResizeMode resize_mode = ResizeMode::Exact;  // of the default size (224 square or shortest edge 224)
    bool default_to_square = true;               // an integer 'size' is a square (else the shortest edge)
    Resample resample = Resample::Bilinear;
    bool do_center_crop = false;
    int64_t crop_size = 0;  // default square crop, 0 = none
    float mean[3] = {0.5f, 0.5f, 0.5f};
    float std[3] = {0.5f, 0.5f, 0.5f};
};

HfProcessorDefaults hf_processor_defaults(const json& j, const std::string& origin) {
    std::string cls;
    for (const char* key : {"image_processor_type", "feature_extractor_type"}) {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        if (!it->is_string()) fail_format(origin + ": field " + krait::quote(key) + " must be a string, got " + it->dump());
        cls = it->get<std::string>();
        break;
    }
    for (const char* suffix : {"Fast", "Pil"})
        if (cls.size() > std::strlen(suffix) && cls.compare(cls.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
            cls.resize(cls.size() - std::strlen(suffix));
    HfProcessorDefaults d;
    if (cls == "CLIPImageProcessor" || cls == "CLIPFeatureExtractor") {
        // OPENAI_CLIP_MEAN / OPENAI_CLIP_STD; size {"shortest_edge": 224}, crop 224x224.
        const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
        for (int i = 0; i < 3; ++i) d.mean[i] = mean[i], d.std[i] = std[i];
        d.resize_mode = ResizeMode::ShortestEdge;
        d.default_to_square = false;
        d.resample = Resample::Bicubic;
        d.do_center_crop = true;
        d.crop_size = 224;
    } else if (cls == "SiglipImageProcessor") {
        // size {"height": 224, "width": 224}, IMAGENET_STANDARD mean/std (0.5), no crop.
        d.default_to_square = false;
        d.resample = Resample::Bicubic;
    }
    return d;
}

json parse_object(const std::string& text, const std::string& origin) {
    json j;
    try {
        check_json_depth(text, origin);
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail_format(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) fail_format(origin + ": not a JSON object");
    return j;
}

std::string read_text(const std::filesystem::path& path) {
    return read_text_file(path.string(), path.string() + ": cannot open");
}

void check_model_size(int64_t h, int64_t w) {
    if (h <= 0 || w <= 0)
        fail_argument("preprocessing: model input size " + std::to_string(h) + "x" + std::to_string(w) +
                      " is not positive");
}

// Offset into the source of the first output row/column of a center crop of `crop` from `size`.
// Negative: the crop starts before the image (zero padding).
int64_t crop_offset(int64_t size, int64_t crop, CropRounding rounding) {
    const int64_t d = size - crop;
    if (rounding == CropRounding::Floor) return d >= 0 ? d / 2 : -((-d + 1) / 2);  // floor(d / 2)
    // torchvision: pads (crop - size) // 2 on the leading side when the image is smaller,
    // otherwise int(round(d / 2.0)) with Python's round half to even.
    if (d < 0) return -((-d) / 2);
    return int64_t(std::nearbyint(double(d) / 2.0));
}

}  // namespace

PreprocessConfig preprocess_config_from_hf_json(const std::string& text, const std::string& origin, int64_t model_h,
                                                int64_t model_w) {
    check_model_size(model_h, model_w);
    const json j = parse_object(text, origin);
    // Fields of other HF processors that change the pipeline in ways not implemented here: refuse
    // rather than silently produce different inputs.
    if (j.contains("crop_pct") && !j["crop_pct"].is_null())
        fail_unsupported(origin + ": field 'crop_pct' (ConvNext-style resize) is not supported");
    if (get_bool(j, "do_pad", false, origin))
        fail_unsupported(origin + ": field 'do_pad' true is not supported");
    // The processor class's defaults fill absent fields (and say what an integer 'size' means).
    const HfProcessorDefaults d = hf_processor_defaults(j, origin);
    PreprocessConfig c;
    c.resize_mode = d.resize_mode;
    c.resize_h = c.resize_w = 224;
    c.shortest_edge = d.resize_mode == ResizeMode::ShortestEdge ? 224 : 0;
    c.resample = d.resample;
    for (int i = 0; i < 3; ++i) c.mean[i] = d.mean[i], c.std[i] = d.std[i];
    c.do_resize = get_bool(j, "do_resize", true, origin);
    if (j.contains("size") && !j["size"].is_null())
        hf_size(j["size"], "size", origin, c.resize_mode, c.resize_h, c.resize_w, c.shortest_edge,
                d.default_to_square);
    if (j.contains("resample") && !j["resample"].is_null()) {
        if (!j["resample"].is_number_integer())
            fail_format(origin + ": field 'resample' must be a PIL resampling integer, got " + j["resample"].dump());
        c.resample = resample_from_pil(j["resample"].get<int64_t>(), origin + ": field 'resample'");
    }
    c.do_center_crop = get_bool(j, "do_center_crop", d.do_center_crop, origin);
    c.crop_rounding = CropRounding::Floor;
    if (c.do_center_crop && d.crop_size > 0 && (!j.contains("crop_size") || j["crop_size"].is_null())) {
        c.crop_h = c.crop_w = d.crop_size;
    } else if (c.do_center_crop) {
        if (!j.contains("crop_size") || j["crop_size"].is_null())
            fail_format(origin + ": field 'crop_size' is missing while do_center_crop is true");
        ResizeMode m = ResizeMode::Exact;
        int64_t se = 0;
        hf_size(j["crop_size"], "crop_size", origin, m, c.crop_h, c.crop_w, se);
        if (m != ResizeMode::Exact)
            fail_format(origin + ": field 'crop_size' must give 'height' and 'width' (or one integer)");
    }
    c.do_rescale = get_bool(j, "do_rescale", true, origin);
    if (j.contains("rescale_factor") && !j["rescale_factor"].is_null()) {
        c.rescale_factor = number_value(j["rescale_factor"], "rescale_factor", origin);
        if (!(c.rescale_factor > 0.0))
            fail_format(origin + ": field 'rescale_factor' must be positive, got " + j["rescale_factor"].dump());
    }
    c.do_normalize = get_bool(j, "do_normalize", true, origin);
    channel_triple(j, "image_mean", c.mean, false, origin);
    channel_triple(j, "image_std", c.std, true, origin);
    validate_preprocess_config(c);
    return c;
}

PreprocessConfig preprocess_config_from_mambavision_json(const std::string& text, const std::string& origin,
                                                         int64_t model_h, int64_t model_w) {
    check_model_size(model_h, model_w);
    const json j = parse_object(text, origin);
    PreprocessConfig c;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};  // timm IMAGENET_DEFAULT
    for (int i = 0; i < 3; ++i) c.mean[i] = mean[i], c.std[i] = std[i];
    channel_triple(j, "mean", c.mean, false, origin);
    channel_triple(j, "std", c.std, true, origin);
    // The mean as Python floats (doubles), for border mode's fill = [round(255 * v) for v in mean].
    double mean_d[3] = {0.485, 0.456, 0.406};
    if (j.contains("mean") && j["mean"].is_array())
        for (size_t i = 0; i < 3; ++i) mean_d[i] = j["mean"][i].get<double>();
    else if (j.contains("mean") && j["mean"].is_number())
        mean_d[0] = mean_d[1] = mean_d[2] = j["mean"].get<double>();

    // crop_pct of the published checkpoints (NVlabs default_cfgs): 1.0 except T2 (0.98) and S (0.93),
    // recognised by their architecture when config.json does not say.
    double crop_pct = 1.0;
    if (j.contains("dim") && j.contains("depths") && j["dim"].is_number_integer() && j["depths"].is_array()) {
        const auto dim = j["dim"].get<int64_t>();
        const auto& d = j["depths"];
        if (dim == 80 && d == json::array({1, 3, 11, 4})) crop_pct = 0.98;
        if (dim == 96 && d == json::array({3, 3, 7, 5})) crop_pct = 0.93;
    }
    if (j.contains("crop_pct") && !j["crop_pct"].is_null()) {
        crop_pct = number_value(j["crop_pct"], "crop_pct", origin);
        if (!(crop_pct > 0.0 && crop_pct <= 4.0))
            fail_format(origin + ": field 'crop_pct' must be in (0, 4], got " + j["crop_pct"].dump());
    }
    std::string crop_mode = "center";
    if (j.contains("crop_mode") && !j["crop_mode"].is_null()) {
        if (!j["crop_mode"].is_string())
            fail_format(origin + ": field 'crop_mode' must be a string, got " + j["crop_mode"].dump());
        crop_mode = j["crop_mode"].get<std::string>();
    }
    c.resample = Resample::Bicubic;
    if (j.contains("interpolation") && !j["interpolation"].is_null()) {
        if (!j["interpolation"].is_string())
            fail_format(origin + ": field 'interpolation' must be a string, got " + j["interpolation"].dump());
        c.resample = parse_resample(j["interpolation"].get<std::string>(), origin + ": field 'interpolation'");
    }

    // timm transforms_imagenet_eval: scale_size = floor(size / crop_pct) per edge.
    const int64_t scale_h = int64_t(std::floor(double(model_h) / crop_pct));
    const int64_t scale_w = int64_t(std::floor(double(model_w) / crop_pct));
    if (scale_h <= 0 || scale_w <= 0)
        fail_format(origin + ": field 'crop_pct' " + std::to_string(crop_pct) + " gives an empty resize");
    c.do_resize = true;
    if (crop_mode == "center") {
        if (scale_h == scale_w) {  // torchvision Resize(int): shorter side -> scale
            c.resize_mode = ResizeMode::ShortestEdge;
            c.shortest_edge = scale_h;
        } else {  // timm: ResizeKeepRatio(scale_size), built without the interpolation argument
            c.resize_mode = ResizeMode::KeepRatio;
            c.keep_ratio_longest = 0.0;
            c.resize_h = scale_h;
            c.resize_w = scale_w;
            c.resample = Resample::Bilinear;
        }
    } else if (crop_mode == "squash") {
        c.resize_mode = ResizeMode::Exact;
        c.resize_h = scale_h;
        c.resize_w = scale_w;
    } else if (crop_mode == "border") {  // fit inside, then CenterCropOrPad with the mean colour
        c.resize_mode = ResizeMode::KeepRatio;
        c.keep_ratio_longest = 1.0;
        c.resize_h = scale_h;
        c.resize_w = scale_w;
        for (int i = 0; i < 3; ++i) {
            const double v = std::nearbyint(255.0 * mean_d[i]);  // Python round: half to even
            c.pad_fill[i] = uint8_t(std::clamp(v, 0.0, 255.0));
        }
    } else {
        fail_format(origin + ": field 'crop_mode' is \"" + crop_mode + "\", expected \"center\", \"squash\" or \"border\"");
    }
    c.do_center_crop = true;
    c.crop_h = model_h;
    c.crop_w = model_w;
    c.crop_rounding = CropRounding::RoundHalfEven;
    c.do_rescale = true;
    c.rescale_factor = 1.0 / 255.0;
    c.rescale_by_division = true;
    c.do_normalize = true;
    validate_preprocess_config(c);
    return c;
}

PreprocessConfig load_preprocess_config(const std::string& model_dir, PreprocessSource source, int64_t model_h,
                                        int64_t model_w) {
    const std::filesystem::path dir(model_dir);
    if (source == PreprocessSource::TimmFieldsInConfig) {
        const auto path = dir / "config.json";
        if (!std::filesystem::exists(path)) fail_io(model_dir + ": no config.json");
        return preprocess_config_from_mambavision_json(read_text(path), path.string(), model_h, model_w);
    }
    const auto path = dir / "preprocessor_config.json";
    if (!std::filesystem::exists(path)) {
        // No processor file: ViTImageProcessor defaults, at the model's own input size.
        check_model_size(model_h, model_w);
        PreprocessConfig c;
        c.resize_h = model_h;
        c.resize_w = model_w;
        return c;
    }
    return preprocess_config_from_hf_json(read_text(path), path.string(), model_h, model_w);
}

void validate_preprocess_config(const PreprocessConfig& c) {
    auto bad = [](const std::string& what) { fail_argument("preprocessing config: " + what); };
    if (c.do_resize) {
        if (c.resize_mode == ResizeMode::ShortestEdge) {
            if (c.shortest_edge <= 0) bad("shortest_edge must be positive");
        } else if (c.resize_h <= 0 || c.resize_w <= 0) {
            bad("resize size " + std::to_string(c.resize_h) + "x" + std::to_string(c.resize_w) + " must be positive");
        }
    }
    if (c.do_center_crop && (c.crop_h <= 0 || c.crop_w <= 0))
        bad("crop size " + std::to_string(c.crop_h) + "x" + std::to_string(c.crop_w) + " must be positive");
    if (c.do_rescale && !(c.rescale_factor > 0.0 && std::isfinite(c.rescale_factor)))
        bad("rescale_factor must be positive");
    if (c.do_normalize)
        for (int i = 0; i < 3; ++i)
            if (!(c.std[i] > 0.0f) || !std::isfinite(c.std[i]) || !std::isfinite(c.mean[i]))
                bad("std must be positive and mean/std finite (channel " + std::to_string(i) + ")");
}

namespace {

std::pair<int64_t, int64_t> resized_size(const PreprocessConfig& c, int64_t h, int64_t w) {
    if (!c.do_resize) return {h, w};
    switch (c.resize_mode) {
        case ResizeMode::Exact: return {c.resize_h, c.resize_w};
        case ResizeMode::ShortestEdge: {
            // Python: int(size * long / short), true division of ints, then truncation.
            const int64_t s = c.shortest_edge;
            if (w <= h) return {int64_t(double(s * h) / double(w)), s};
            return {s, int64_t(double(s * w) / double(h))};
        }
        case ResizeMode::KeepRatio: {
            // timm ResizeKeepRatio.get_params, same double arithmetic; round() is half to even.
            const double rh = double(h) / double(c.resize_h), rw = double(w) / double(c.resize_w);
            const double ratio =
                std::max(rh, rw) * c.keep_ratio_longest + std::min(rh, rw) * (1.0 - c.keep_ratio_longest);
            return {std::max<int64_t>(1, int64_t(std::nearbyint(double(h) / ratio))),
                    std::max<int64_t>(1, int64_t(std::nearbyint(double(w) / ratio)))};
        }
    }
    return {h, w};
}

}  // namespace

std::pair<int64_t, int64_t> preprocess_output_size(const PreprocessConfig& cfg, int64_t img_h, int64_t img_w) {
    if (cfg.do_center_crop) return {cfg.crop_h, cfg.crop_w};
    return resized_size(cfg, img_h, img_w);
}

Image resize_and_crop(const Image& img, const PreprocessConfig& cfg) {
    validate_preprocess_config(cfg);
    if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width * img.height * 3))
        fail_argument("preprocessing: image is empty or inconsistent (" + std::to_string(img.width) + "x" +
                      std::to_string(img.height) + ", " + std::to_string(img.rgb.size()) + " bytes)");
    Image cur;
    const Image* src = &img;
    if (cfg.do_resize) {
        const auto [rh, rw] = resized_size(cfg, img.height, img.width);
        if (rh != img.height || rw != img.width) {
            cur = resize_like_pil(img, rw, rh, cfg.resample);
            src = &cur;
        }
    }
    if (!cfg.do_center_crop) return src == &img ? img : cur;

    const int64_t top = crop_offset(src->height, cfg.crop_h, cfg.crop_rounding);
    const int64_t left = crop_offset(src->width, cfg.crop_w, cfg.crop_rounding);
    Image out;
    out.width = cfg.crop_w;
    out.height = cfg.crop_h;
    out.rgb.resize(size_t(out.width * out.height * 3));
    for (size_t i = 0; i < out.rgb.size(); ++i) out.rgb[i] = cfg.pad_fill[i % 3];  // outside the image
    for (int64_t y = 0; y < out.height; ++y) {
        const int64_t sy = y + top;
        if (sy < 0 || sy >= src->height) continue;
        for (int64_t x = 0; x < out.width; ++x) {
            const int64_t sx = x + left;
            if (sx < 0 || sx >= src->width) continue;
            for (int ch = 0; ch < 3; ++ch) out.rgb[size_t((y * out.width + x) * 3 + ch)] = src->rgb[size_t((sy * src->width + sx) * 3 + ch)];
        }
    }
    return out;
}

void preprocess(const Image& img, const PreprocessConfig& cfg, float* out) {
    if (!out) fail_argument("preprocessing: output buffer is NULL");
    const Image px = resize_and_crop(img, cfg);
    const int64_t hw = px.width * px.height;

    // Per channel, a table of the 256 possible values: the same float32 arithmetic as the
    // references, done once per value instead of once per pixel.
    for (int ch = 0; ch < 3; ++ch) {
        float lut[256];
        const float divisor = float(1.0 / cfg.rescale_factor);
        for (int v = 0; v < 256; ++v) {
            float x = float(v);
            if (cfg.do_rescale) x = cfg.rescale_by_division ? float(v) / divisor : float(double(v) * cfg.rescale_factor);
            if (cfg.do_normalize) x = (x - cfg.mean[ch]) / cfg.std[ch];
            lut[v] = x;
        }
        float* dst = out + ch * hw;
        for (int64_t i = 0; i < hw; ++i) dst[i] = lut[px.rgb[size_t(i * 3 + ch)]];
    }
}

}  // namespace krait
