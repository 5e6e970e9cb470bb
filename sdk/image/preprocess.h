// Preprocessing: decoded RGB image -> model input tensor [3, H, W] float32 (CHW), as
// the model's own reference pipeline builds it.
//
// Two reference pipelines are followed, both on a PIL uint8 image:
//  * HF image processors (ViT; preprocessor_config.json), PIL backend: resize (to
//    {height,width} or shortest_edge) -> center crop (floor offsets) -> rescale
//    (uint8 * factor in double, cast to float32) -> normalize ((x - mean) / std, float32);
//  * timm eval transforms (MambaVision; config.json mean/std/crop_pct/crop_mode/
//    interpolation): Resize(floor(size / crop_pct)) on the shorter side -> torchvision
//    CenterCrop (offsets round half to even) -> ToTensor (x / 255 in float32) -> Normalize.
// Resizing is Pillow-exact (sdk/image/resize.h), so the float output equals the
// references' up to float32 rounding of the last two steps.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "sdk/image/image.h"
#include "sdk/image/resize.h"

namespace krait {

enum class ResizeMode {
    Exact,         // to resize_h x resize_w, aspect ratio not kept
    ShortestEdge,  // shorter side -> shortest_edge, longer side int(shortest_edge * long / short)
                   // (HF get_resize_output_image_size(default_to_square=False) == torchvision Resize(int))
    KeepRatio      // timm ResizeKeepRatio: ratio = max(rh, rw) * longest + min(rh, rw) * (1 - longest) with
                   // rh = h / resize_h, rw = w / resize_w; size = round_half_even(h / ratio, w / ratio)
};

enum class CropRounding {
    Floor,         // HF center_crop: top = (h - crop_h) // 2
    RoundHalfEven  // torchvision CenterCrop: top = round((h - crop_h) / 2)
};

struct PreprocessConfig {
    bool do_resize = true;
    ResizeMode resize_mode = ResizeMode::Exact;
    int64_t resize_h = 224, resize_w = 224;  // Exact, CoverKeepRatio
    int64_t shortest_edge = 0;               // ShortestEdge
    double keep_ratio_longest = 0.0;         // KeepRatio: 0 = cover the target (center), 1 = fit inside (border)
    Resample resample = Resample::Bilinear;

    // Crops reaching outside the image are filled with pad_fill (uint8, before rescale/normalize):
    // 0 in HF and torchvision; timm's "border" mode pads with round(255 * mean).
    bool do_center_crop = false;
    int64_t crop_h = 0, crop_w = 0;
    CropRounding crop_rounding = CropRounding::Floor;
    uint8_t pad_fill[3] = {0, 0, 0};

    bool do_rescale = true;
    double rescale_factor = 1.0 / 255.0;  // HF: float32(double(v) * factor)
    bool rescale_by_division = false;     // torchvision ToTensor: float32(v) / float32(1 / factor)

    bool do_normalize = true;
    float mean[3] = {0.5f, 0.5f, 0.5f};
    float std[3] = {0.5f, 0.5f, 0.5f};
};

// Where a model directory keeps its preprocessing settings; each model family says which.
enum class PreprocessSource {
    // preprocessor_config.json (HF image-processor fields); absent fields take the defaults of the
    // class its image_processor_type / feature_extractor_type names (CLIPImageProcessor: bicubic,
    // shortest edge 224, center crop 224, OpenAI mean/std, an integer size is the shortest edge;
    // SiglipImageProcessor: bicubic 224x224, mean/std 0.5; otherwise ViTImageProcessor's). When the
    // file is absent, ViTImageProcessor's defaults with size model_h x model_w. ViT, CLIP, SigLIP, ...
    HfImageProcessor,
    // timm-style fields in config.json (MambaVision): mean, std, crop_pct, crop_mode ("center" |
    // "squash" | "border"), interpolation; absent fields take the published models' values
    // (ImageNet mean/std, bicubic, crop_pct 1.0, or 0.98 / 0.93 for the T2 / S architectures
    // recognised by dim and depths, crop_mode center). As timm: a non-square target in center mode
    // resizes with ResizeKeepRatio's default bilinear filter whatever `interpolation` says.
    TimmFieldsInConfig,
};

// Reads the preprocessing settings of a model directory for a model input of model_h x model_w.
// Bad values: KRAIT_ERR_FORMAT naming the file and field; valid but unhandled choices
// (e.g. crop_mode "border"): KRAIT_ERR_UNSUPPORTED; a missing config.json (TimmFieldsInConfig): KRAIT_ERR_IO.
PreprocessConfig load_preprocess_config(const std::string& model_dir, PreprocessSource source, int64_t model_h,
                                        int64_t model_w);

// Same, from JSON text (for tests and callers holding the file in memory). `origin` names it in messages.
PreprocessConfig preprocess_config_from_hf_json(const std::string& text, const std::string& origin, int64_t model_h,
                                                int64_t model_w);
PreprocessConfig preprocess_config_from_mambavision_json(const std::string& text, const std::string& origin,
                                                         int64_t model_h, int64_t model_w);

// Throws KRAIT_ERR_INVALID_ARGUMENT naming the field if the config cannot run (sizes <= 0, std 0, ...).
void validate_preprocess_config(const PreprocessConfig& cfg);

// The (height, width) preprocess() writes for an image of this size.
std::pair<int64_t, int64_t> preprocess_output_size(const PreprocessConfig& cfg, int64_t img_h, int64_t img_w);

// The uint8 image after resize and crop (zero-filled outside), before rescale/normalize.
Image resize_and_crop(const Image& img, const PreprocessConfig& cfg);

// Writes out[3, H, W] (CHW, float32) with (H, W) = preprocess_output_size(cfg, img.height, img.width).
void preprocess(const Image& img, const PreprocessConfig& cfg, float* out);

}  // namespace krait
