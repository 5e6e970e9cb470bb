#include "sdk/models/mamba2_config.h"

#include <cmath>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {
using nlohmann::json;

int32_t token_field(const json& j, const char* key) {
    if (j.contains(key) && j[key].is_number_integer()) return static_cast<int32_t>(j[key].get<int64_t>());
    if (j.contains(key) && j[key].is_array() && !j[key].empty() && j[key][0].is_number_integer())
        return static_cast<int32_t>(j[key][0].get<int64_t>());
    return -1;
}

// A number of time_step_limit: a JSON number, or transformers' encoding of a non-finite float
// ({"__float__": "Infinity"}), or the bare string.
float limit_value(const json& v, const std::string& origin) {
    if (v.is_number()) return v.get<float>();
    const json* s = &v;
    if (v.is_object() && v.contains("__float__")) s = &v["__float__"];
    if (s->is_string()) {
        const std::string t = s->get<std::string>();
        if (t == "Infinity" || t == "inf" || t == "+inf") return std::numeric_limits<float>::infinity();
        if (t == "-Infinity" || t == "-inf") return -std::numeric_limits<float>::infinity();
    }
    fail_format(origin + ": 'time_step_limit' must be two numbers");
}
}  // namespace

Mamba2Config Mamba2Config::from_json_text(const std::string& text, const std::string& origin) {
    json j = parse_json_object(text, origin);
    Mamba2Config c;
    if (!j.contains("model_type") || !j["model_type"].is_string())
        fail_format(origin + ": 'model_type' must be a string");
    const auto type = j["model_type"].get<std::string>();
    if (type != "mamba2") fail_unsupported(origin + ": unknown model_type " + krait::quote(type) + " (expected 'mamba2')");
    c.hidden_size = json_int(j, "hidden_size", 0, origin);
    c.num_layers = json_int(j, "num_hidden_layers", 0, origin);
    c.vocab_size = json_int(j, "vocab_size", 0, origin);
    c.num_heads = json_int(j, "num_heads", 128, origin);
    c.head_dim = json_int(j, "head_dim", 64, origin);
    c.n_groups = json_int(j, "n_groups", 8, origin);
    c.state_size = json_int(j, "state_size", 128, origin);
    c.chunk_size = json_int(j, "chunk_size", 256, origin);
    c.conv_kernel = json_int(j, "conv_kernel", 4, origin);
    c.use_bias = json_bool(j, "use_bias", false, origin);
    c.use_conv_bias = json_bool(j, "use_conv_bias", true, origin);
    c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", false, origin);
    if (j.contains("layer_norm_epsilon") && j["layer_norm_epsilon"].is_number())
        c.norm_eps = j["layer_norm_epsilon"].get<float>();
    if (j.contains("hidden_act") && j["hidden_act"].is_string() && !json_equals(j["hidden_act"], "silu"))
        fail_unsupported(origin + ": hidden_act " + j["hidden_act"].dump() + " is not supported (silu only)");
    if (j.contains("time_step_limit") && !j["time_step_limit"].is_null()) {
        const json& lim = j["time_step_limit"];
        if (!lim.is_array() || lim.size() != 2) fail_format(origin + ": 'time_step_limit' must be two numbers");
        c.dt_min = limit_value(lim[0], origin);
        c.dt_max = limit_value(lim[1], origin);
        if (std::isnan(c.dt_min) || std::isnan(c.dt_max) || c.dt_min > c.dt_max)
            fail_format(origin + ": 'time_step_limit' must be [low, high] with low <= high");
    }
    double expand = 2.0;
    if (j.contains("expand") && j["expand"].is_number()) expand = j["expand"].get<double>();
    c.intermediate_size = static_cast<int64_t>(expand * static_cast<double>(c.hidden_size));
    c.bos_token_id = token_field(j, "bos_token_id");
    c.eos_token_id = token_field(j, "eos_token_id");

    require_range(origin, "hidden_size", c.hidden_size, 1, 1 << 16);
    require_range(origin, "num_hidden_layers", c.num_layers, 1, 1 << 12);
    require_range(origin, "vocab_size", c.vocab_size, 1, 1 << 24);
    require_range(origin, "num_heads", c.num_heads, 1, 1 << 14);
    require_range(origin, "head_dim", c.head_dim, 1, 1 << 14);
    require_range(origin, "n_groups", c.n_groups, 1, c.num_heads);
    require_range(origin, "state_size", c.state_size, 1, 1 << 12);
    require_range(origin, "chunk_size", c.chunk_size, 1, 1 << 14);
    require_range(origin, "conv_kernel", c.conv_kernel, 1, 64);
    require_range(origin, "intermediate_size", c.intermediate_size, 1, 1 << 18);
    if (c.num_heads * c.head_dim != c.intermediate_size)
        fail_format(origin + ": num_heads * head_dim (" + std::to_string(c.num_heads * c.head_dim) +
                    ") must equal expand * hidden_size (" + std::to_string(c.intermediate_size) + ")");
    if (c.num_heads % c.n_groups != 0) fail_format(origin + ": 'num_heads' must be a multiple of 'n_groups'");
    if (c.intermediate_size % c.n_groups != 0)
        fail_format(origin + ": the gated norm's groups: expand * hidden_size must be a multiple of 'n_groups'");
    if (!(c.norm_eps > 0.0f) || !(c.norm_eps < 1.0f)) fail_format(origin + ": 'layer_norm_epsilon' must be in (0, 1)");
    return c;
}

}  // namespace krait
