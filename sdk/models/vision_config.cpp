#include "sdk/models/vision_config.h"

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"

namespace krait {

using nlohmann::json;

Activation activation_from_name(const std::string& name, const std::string& origin) {
    // transformers' ACT2FN names; gelu_new / gelu_pytorch_tanh / gelu_fast are all the tanh approximation.
    if (name == "gelu") return Activation::GeluErf;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
    if (name == "quick_gelu") return Activation::QuickGelu;
    if (name == "relu") return Activation::Relu;
    if (name == "silu" || name == "swish") return Activation::Silu;
    fail_unsupported(origin + ": 'hidden_act' \"" + name +
                     "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu)");
}

const char* activation_name(Activation act) {
    switch (act) {
        case Activation::GeluErf: return "gelu";
        case Activation::GeluTanh: return "gelu_pytorch_tanh";
        case Activation::QuickGelu: return "quick_gelu";
        case Activation::Relu: return "relu";
        case Activation::Silu: return "silu";
        case Activation::None: break;
    }
    return "none";
}

Activation json_activation(const json& j, Activation fallback, const std::string& origin) {
    if (!j.contains("hidden_act") || j["hidden_act"].is_null()) return fallback;
    if (!j["hidden_act"].is_string()) fail_format(origin + ": 'hidden_act' must be a string");
    return activation_from_name(j["hidden_act"].get<std::string>(), origin);
}

float json_layer_norm_eps(const json& j, float fallback, const std::string& origin) {
    if (!j.contains("layer_norm_eps") || j["layer_norm_eps"].is_null()) return fallback;
    if (!j["layer_norm_eps"].is_number()) fail_format(origin + ": 'layer_norm_eps' must be a number");
    const double eps = j["layer_norm_eps"].get<double>();
    if (!(eps > 0.0) || !(eps < 1.0))
        fail_format(origin + ": 'layer_norm_eps' is " + j["layer_norm_eps"].dump() + ", expected in (0, 1)");
    return static_cast<float>(eps);
}

std::pair<int64_t, int64_t> json_size_field(const json& j, const char* key, int64_t fallback,
                                            const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return {fallback, fallback};
    const json& v = j[key];
    if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
        return {v[0].get<int64_t>(), v[1].get<int64_t>()};
    fail_format(origin + ": " + krait::quote(key) + " must be an integer or [height, width], got " + v.dump());
}

void check_vision_transformer_shape(const std::string& origin, int64_t num_channels, int64_t hidden_size,
                                    int64_t num_layers, int64_t num_heads, int64_t intermediate_size) {
    if (num_channels != 3)
        fail_format(origin + ": 'num_channels' is " + std::to_string(num_channels) + ", expected 3 (RGB)");
    require_range(origin, "hidden_size", hidden_size, 1, 1 << 16);
    require_range(origin, "num_hidden_layers", num_layers, 1, 1 << 12);
    require_range(origin, "num_attention_heads", num_heads, 1, hidden_size);
    if (hidden_size % num_heads)
        fail_format(origin + ": 'num_attention_heads' " + std::to_string(num_heads) + " does not divide 'hidden_size' " +
                    std::to_string(hidden_size));
    require_range(origin, "intermediate_size", intermediate_size, 1, 1 << 18);
}

}  // namespace krait
