// config.json fields that the vision families (ViT, CLIP, SigLIP) read alike:
// parsed once here so each family's config says only what is its own.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "sdk/core/json.h"
#include "sdk/models/blocks.h"

namespace krait {

// transformers' ACT2FN name -> Activation. KRAIT_ERR_UNSUPPORTED naming 'hidden_act' for others.
Activation activation_from_name(const std::string& name, const std::string& origin);
// The name activation_from_name reads for `act` ("gelu", "quick_gelu", ...; "none").
const char* activation_name(Activation act);

// "hidden_act" of `j` (fallback when absent or null). KRAIT_ERR_FORMAT if not a string.
Activation json_activation(const nlohmann::json& j, Activation fallback, const std::string& origin);

// "layer_norm_eps" of `j` (fallback when absent or null). KRAIT_ERR_FORMAT naming it unless a number in (0, 1).
float json_layer_norm_eps(const nlohmann::json& j, float fallback, const std::string& origin);

// image_size / patch_size: an integer or a [height, width] pair (fallback for both when absent or null).
// KRAIT_ERR_FORMAT naming the key otherwise.
std::pair<int64_t, int64_t> json_size_field(const nlohmann::json& j, const char* key, int64_t fallback,
                                            const std::string& origin);

// The transformer-shape fields ViT, CLIP and SigLIP configs share, checked: 3 channels, hidden_size,
// num_hidden_layers, num_attention_heads (dividing hidden_size) and intermediate_size in range.
// KRAIT_ERR_FORMAT naming the field otherwise.
void check_vision_transformer_shape(const std::string& origin, int64_t num_channels, int64_t hidden_size,
                                    int64_t num_layers, int64_t num_heads, int64_t intermediate_size);

}  // namespace krait
