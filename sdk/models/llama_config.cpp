#include "sdk/models/llama_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {

using nlohmann::json;

// bos/eos: an integer, a list of integers (Llama 3: several end tokens), or absent/null.
std::vector<int32_t> token_list(const json& j, const char* key, const std::string& origin) {
    std::vector<int32_t> out;
    if (!j.contains(key) || j[key].is_null()) return out;
    const json& v = j[key];
    auto one = [&](const json& e) {
        if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() > INT32_MAX)
            fail_format(origin + ": " + quote(key) + " must be a token id or a list of them, got " + v.dump());
        out.push_back(static_cast<int32_t>(e.get<int64_t>()));
    };
    if (v.is_array()) {
        for (const auto& e : v) one(e);
    } else {
        one(v);
    }
    return out;
}

// The RoPE settings from transformers 5's rope_parameters, or from the older
// rope_theta (top level) + rope_scaling ({"type" | "rope_type": ..., ...}).
RopeConfig parse_rope(const json& j, const std::string& origin, int64_t max_positions) {
    RopeConfig r;
    json params = json::object();
    std::string where = "rope_parameters";
    if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
        if (!j["rope_parameters"].is_object()) fail_format(origin + ": 'rope_parameters' must be an object");
        params = j["rope_parameters"];
    } else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
        if (!j["rope_scaling"].is_object()) fail_format(origin + ": 'rope_scaling' must be an object or null");
        params = j["rope_scaling"];
        where = "rope_scaling";
    }
    const std::string at = origin + " (" + where + ")";
    // rope_theta: in the parameters (transformers 5), else at the top level, else 10000.
    r.theta = json_number(params, "rope_theta", json_number(j, "rope_theta", 10000.0, origin), at);
    if (!(r.theta > 1.0)) fail_format(at + ": 'rope_theta' must be > 1, got " + std::to_string(r.theta));
    if (json_number(params, "partial_rotary_factor", json_number(j, "partial_rotary_factor", 1.0, origin), at) != 1.0)
        fail_unsupported(at + ": 'partial_rotary_factor' other than 1 is not supported by the Llama family");

    std::string type = "default";
    for (const char* key : {"rope_type", "type"}) {
        if (params.contains(key) && !params[key].is_null()) {
            if (!params[key].is_string()) fail_format(at + ": " + quote(key) + " must be a string");
            type = params[key].get<std::string>();
            break;
        }
    }
    auto need = [&](const char* key) {
        if (!params.contains(key) || params[key].is_null())
            fail_format(at + ": rope type " + quote(type) + " needs " + quote(key));
        return json_number(params, key, 0.0, at);
    };
    auto positive_factor = [&] {
        r.factor = need("factor");
        if (!(r.factor >= 1.0)) fail_format(at + ": 'factor' must be >= 1, got " + std::to_string(r.factor));
    };
    if (type == "default") {
        r.type = RopeConfig::Type::Default;
    } else if (type == "linear") {
        r.type = RopeConfig::Type::Linear;
        positive_factor();
    } else if (type == "dynamic") {
        r.type = RopeConfig::Type::Dynamic;
        positive_factor();
    } else if (type == "llama3") {
        r.type = RopeConfig::Type::Llama3;
        positive_factor();
        r.low_freq_factor = need("low_freq_factor");
        r.high_freq_factor = need("high_freq_factor");
        if (!(r.high_freq_factor > r.low_freq_factor && r.low_freq_factor > 0.0))
            fail_format(at + ": llama3 needs 0 < low_freq_factor < high_freq_factor");
        r.original_max_positions = json_int(params, "original_max_position_embeddings", max_positions, at);
    } else if (type == "yarn") {
        r.type = RopeConfig::Type::Yarn;
        r.original_max_positions = json_int(params, "original_max_position_embeddings", max_positions, at);
        if (r.original_max_positions < 1) fail_format(at + ": 'original_max_position_embeddings' must be >= 1");
        // factor may be omitted: max_position_embeddings / original_max_position_embeddings.
        r.factor = json_number(params, "factor",
                               static_cast<double>(max_positions) / static_cast<double>(r.original_max_positions), at);
        if (!(r.factor > 0.0)) fail_format(at + ": 'factor' must be > 0");
        r.attention_factor = json_number(params, "attention_factor", -1.0, at);
        r.mscale = json_number(params, "mscale", 0.0, at);
        r.mscale_all_dim = json_number(params, "mscale_all_dim", 0.0, at);
        r.beta_fast = json_number(params, "beta_fast", 0.0, at);
        r.beta_slow = json_number(params, "beta_slow", 0.0, at);
        if (r.beta_fast == 0.0) r.beta_fast = 32.0;  // transformers: `get("beta_fast") or 32`
        if (r.beta_slow == 0.0) r.beta_slow = 1.0;
        r.truncate = json_bool(params, "truncate", true, at);
    } else {
        fail_unsupported(at + ": rope type " + quote(type) + " is not supported (default, linear, dynamic, llama3, yarn)");
    }
    if (r.original_max_positions < 0 || r.original_max_positions > (int64_t{1} << 30))
        fail_format(at + ": 'original_max_position_embeddings' is out of range");
    return r;
}

}  // namespace

void RopeConfig::frequencies(int64_t head_dim, int64_t max_positions, int64_t seq_len, std::vector<float>& inv_freq,
                             float& scaling) const {
    // Written as transformers computes it: tensors in float32, Python scalars in double.
    const int64_t half = head_dim / 2;
    inv_freq.resize(static_cast<size_t>(half));
    scaling = 1.0f;
    auto base_freqs = [&](double base) {
        const float b = static_cast<float>(base);
        for (int64_t i = 0; i < half; ++i) {
            const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
            inv_freq[i] = 1.0f / std::pow(b, exponent);
        }
    };
    switch (type) {
        case Type::Default:
            base_freqs(theta);
            return;
        case Type::Linear:
            base_freqs(theta);
            for (auto& f : inv_freq) f /= static_cast<float>(factor);
            return;
        case Type::Dynamic: {
            const double len = static_cast<double>(std::max(seq_len, max_positions));
            const double base =
                theta * std::pow(factor * len / static_cast<double>(max_positions) - (factor - 1.0),
                                 static_cast<double>(head_dim) / static_cast<double>(head_dim - 2));
            base_freqs(base);
            return;
        }
        case Type::Llama3: {
            base_freqs(theta);
            const double old_len = static_cast<double>(original_max_positions);
            const double low_wavelen = old_len / low_freq_factor, high_wavelen = old_len / high_freq_factor;
            const float two_pi = static_cast<float>(2.0 * M_PI), f = static_cast<float>(factor);
            for (auto& inv : inv_freq) {
                const float wavelen = two_pi / inv;
                float scaled = wavelen > static_cast<float>(low_wavelen) ? inv / f : inv;
                const bool medium = !(wavelen < static_cast<float>(high_wavelen)) && !(wavelen > static_cast<float>(low_wavelen));
                if (medium) {
                    const float smooth = (static_cast<float>(old_len) / wavelen - static_cast<float>(low_freq_factor)) /
                                         static_cast<float>(high_freq_factor - low_freq_factor);
                    scaled = (1.0f - smooth) * scaled / f + smooth * scaled;
                }
                inv = scaled;
            }
            return;
        }
        case Type::Yarn: {
            const double base = theta;
            auto get_mscale = [](double scale, double m) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
            double attn = attention_factor;
            if (attn < 0.0) {
                attn = (mscale != 0.0 && mscale_all_dim != 0.0) ? get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
                                                                : get_mscale(factor, 1.0);
            }
            scaling = static_cast<float>(attn);
            const double dim = static_cast<double>(head_dim);
            auto correction_dim = [&](double rotations) {
                return dim * std::log(static_cast<double>(original_max_positions) / (rotations * 2.0 * M_PI)) /
                       (2.0 * std::log(base));
            };
            double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
            if (truncate) {
                low = std::floor(low);
                high = std::ceil(high);
            }
            low = std::max(low, 0.0);
            high = std::min(high, dim - 1.0);
            if (low == high) high += 0.001;  // transformers: prevent a singularity
            const float b = static_cast<float>(base), f = static_cast<float>(factor);
            for (int64_t i = 0; i < half; ++i) {
                const float pos_freq = std::pow(b, static_cast<float>(2 * i) / static_cast<float>(head_dim));
                const float extrapolation = 1.0f / pos_freq, interpolation = 1.0f / (f * pos_freq);
                const float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) /
                                                  static_cast<float>(high - low),
                                              0.0f, 1.0f);
                const float extra_weight = 1.0f - ramp;
                inv_freq[i] = interpolation * (1.0f - extra_weight) + extrapolation * extra_weight;
            }
            return;
        }
    }
}

LlamaConfig LlamaConfig::from_dir(const std::string& model_dir) {
    const auto path = (std::filesystem::path(model_dir) / "config.json").string();
    return from_json_text(read_text_file(path, model_dir + ": no config.json"), path);
}

LlamaConfig LlamaConfig::from_json_text(const std::string& text, const std::string& origin) {
    const json j = parse_json_object(text, origin);
    LlamaConfig c;
    if (!j.contains("model_type") || !j["model_type"].is_string())
        fail_format(origin + ": no string 'model_type'");
    c.model_type = j["model_type"].get<std::string>();
    const bool qwen2 = c.model_type == "qwen2", mistral = c.model_type == "mistral";
    if (!qwen2 && !mistral && c.model_type != "llama")
        fail_unsupported(origin + ": model_type " + quote(c.model_type) + " is not in the Llama family (llama, mistral, qwen2)");

    c.vocab_size = json_int(j, "vocab_size", 0, origin);
    c.hidden_size = json_int(j, "hidden_size", 0, origin);
    c.intermediate_size = json_int(j, "intermediate_size", 0, origin);
    c.num_layers = json_int(j, "num_hidden_layers", 0, origin);
    c.num_heads = json_int(j, "num_attention_heads", 0, origin);
    c.num_kv_heads = json_int(j, "num_key_value_heads", c.num_heads, origin);
    require_range(origin, "vocab_size", c.vocab_size, 1, 1 << 24);
    require_range(origin, "hidden_size", c.hidden_size, 1, 1 << 16);
    require_range(origin, "intermediate_size", c.intermediate_size, 1, 1 << 18);
    require_range(origin, "num_hidden_layers", c.num_layers, 1, 1 << 10);
    require_range(origin, "num_attention_heads", c.num_heads, 1, 1 << 10);
    require_range(origin, "num_key_value_heads", c.num_kv_heads, 1, c.num_heads);
    if (c.num_heads % c.num_kv_heads != 0)
        fail_format(origin + ": 'num_attention_heads' (" + std::to_string(c.num_heads) +
                    ") is not a multiple of 'num_key_value_heads' (" + std::to_string(c.num_kv_heads) + ")");
    // head_dim: given (and may differ from hidden / heads), else hidden / heads, which must then divide.
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
        c.head_dim = json_int(j, "head_dim", 0, origin);
    } else {
        if (c.hidden_size % c.num_heads != 0)
            fail_format(origin + ": 'hidden_size' (" + std::to_string(c.hidden_size) +
                        ") is not a multiple of 'num_attention_heads' (" + std::to_string(c.num_heads) +
                        ") and there is no 'head_dim'");
        c.head_dim = c.hidden_size / c.num_heads;
    }
    require_range(origin, "head_dim", c.head_dim, 2, 1 << 12);
    if (c.head_dim % 2 != 0) fail_format(origin + ": 'head_dim' must be even for rotary embeddings, got " + std::to_string(c.head_dim));

    c.rms_norm_eps = static_cast<float>(json_number(j, "rms_norm_eps", 1e-6, origin));
    if (!(c.rms_norm_eps > 0.0f && c.rms_norm_eps < 1.0f)) fail_format(origin + ": 'rms_norm_eps' must be in (0, 1)");
    const int64_t default_positions = qwen2 ? 32768 : mistral ? 4096 * 32 : 2048;
    c.max_positions = json_int(j, "max_position_embeddings", default_positions, origin);
    require_range(origin, "max_position_embeddings", c.max_positions, 1, int64_t{1} << 30);
    c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", false, origin);
    if (qwen2) {
        c.qkv_bias = true;  // Qwen2Attention: q/k/v with bias, o without
    } else if (!mistral) {
        c.qkv_bias = c.o_bias = json_bool(j, "attention_bias", false, origin);
        c.mlp_bias = json_bool(j, "mlp_bias", false, origin);
    }
    if (j.contains("hidden_act") && !(j["hidden_act"].is_string() &&
                                      (json_equals(j["hidden_act"], "silu") || json_equals(j["hidden_act"], "swish"))))
        fail_unsupported(origin + ": 'hidden_act' " + j["hidden_act"].dump() + " is not supported (silu)");
    c.rope = parse_rope(j, origin, c.max_positions);

    // Sliding windows.
    c.layer_sliding.assign(static_cast<size_t>(c.num_layers), false);
    if (mistral || (qwen2 && json_bool(j, "use_sliding_window", false, origin))) {
        c.sliding_window = json_int(j, "sliding_window", 0, origin);
        if (c.sliding_window < 0) fail_format(origin + ": 'sliding_window' must be >= 1 or null");
    }
    if (c.sliding_window > 0) {
        if (j.contains("layer_types") && j["layer_types"].is_array()) {
            const json& types = j["layer_types"];
            if (static_cast<int64_t>(types.size()) != c.num_layers)
                fail_format(origin + ": 'layer_types' has " + std::to_string(types.size()) + " entries, expected " +
                            std::to_string(c.num_layers));
            for (size_t l = 0; l < types.size(); ++l) {
                if (!types[l].is_string()) fail_format(origin + ": 'layer_types' must hold strings");
                const auto t = types[l].get<std::string>();
                if (t != "sliding_attention" && t != "full_attention")
                    fail_unsupported(origin + ": layer type " + quote(t) + " is not supported");
                c.layer_sliding[l] = t == "sliding_attention";
            }
        } else if (qwen2) {
            const int64_t first = json_int(j, "max_window_layers", 28, origin);
            for (int64_t l = first; l < c.num_layers; ++l) c.layer_sliding[static_cast<size_t>(l)] = true;
        } else {
            c.layer_sliding.assign(static_cast<size_t>(c.num_layers), true);
        }
    }

    const auto bos = token_list(j, "bos_token_id", origin);
    c.bos_token_id = bos.empty() ? -1 : bos[0];
    c.eos_token_ids = token_list(j, "eos_token_id", origin);
    return c;
}

}  // namespace krait
