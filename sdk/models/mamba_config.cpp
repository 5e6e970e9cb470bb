#include "sdk/models/mamba_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

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
}  // namespace

MambaConfig MambaConfig::from_dir(const std::string& model_dir) {
    const auto path = (std::filesystem::path(model_dir) / "config.json").string();
    return from_json_text(read_text_file(path, model_dir + ": no config.json"), path);
}

MambaConfig MambaConfig::from_json_text(const std::string& text, const std::string& origin) {
    json j = parse_json_object(text, origin);

    MambaConfig c;
    if (j.contains("model_type")) {
        if (!j["model_type"].is_string()) fail_format(origin + ": 'model_type' must be a string");
        const auto type = j["model_type"].get<std::string>();
        if (type != "mamba")
            fail_unsupported(origin + ": unknown model_type " + krait::quote(type) + " (this version runs 'mamba')");
        c.hidden_size = json_int(j, "hidden_size", 0, origin);
        c.num_layers = json_int(j, "num_hidden_layers", 0, origin);
        c.vocab_size = json_int(j, "vocab_size", 0, origin);
        c.state_size = json_int(j, "state_size", 16, origin);
        c.conv_kernel = json_int(j, "conv_kernel", 4, origin);
        const int64_t expand = json_int(j, "expand", 2, origin);
        c.intermediate_size = json_int(j, "intermediate_size", expand * c.hidden_size, origin);
        c.use_bias = json_bool(j, "use_bias", false, origin);
        c.use_conv_bias = json_bool(j, "use_conv_bias", true, origin);
        c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", true, origin);
        if (j.contains("layer_norm_epsilon") && j["layer_norm_epsilon"].is_number())
            c.norm_eps = j["layer_norm_epsilon"].get<float>();
        if (j.contains("time_step_rank") && j["time_step_rank"].is_string()) {
            if (!json_equals(j["time_step_rank"], "auto"))
                fail_format(origin + ": 'time_step_rank' must be an integer or \"auto\"");
            c.time_step_rank = (c.hidden_size + 15) / 16;
        } else {
            c.time_step_rank = json_int(j, "time_step_rank", (c.hidden_size + 15) / 16, origin);
        }
    } else if (j.contains("d_model")) {
        // Original state-spaces/mamba MambaConfig (mamba_ssm.models.config_mamba).
        c.original_layout = true;
        c.hidden_size = json_int(j, "d_model", 0, origin);
        c.num_layers = json_int(j, "n_layer", 0, origin);
        const int64_t vocab = json_int(j, "vocab_size", 0, origin);
        const int64_t multiple = json_int(j, "pad_vocab_size_multiple", 8, origin);
        require_range(origin, "pad_vocab_size_multiple", multiple, 1, 1 << 20);
        c.vocab_size = vocab % multiple ? vocab + multiple - vocab % multiple : vocab;
        c.tie_word_embeddings = json_bool(j, "tie_embeddings", true, origin);
        if (!json_bool(j, "rms_norm", true, origin))
            fail_unsupported(origin + ": rms_norm false (LayerNorm Mamba) is not supported");
        json ssm = j.contains("ssm_cfg") && j["ssm_cfg"].is_object() ? j["ssm_cfg"] : json::object();
        if (ssm.contains("layer") && !json_equals(ssm["layer"], "Mamba1"))
            fail_unsupported(origin + ": ssm_cfg.layer " + ssm["layer"].dump() + " is not supported (Mamba1 only)");
        c.state_size = json_int(ssm, "d_state", 16, origin);
        c.conv_kernel = json_int(ssm, "d_conv", 4, origin);
        const int64_t expand = json_int(ssm, "expand", 2, origin);
        c.intermediate_size = expand * c.hidden_size;
        c.use_bias = json_bool(ssm, "bias", false, origin);
        c.use_conv_bias = json_bool(ssm, "conv_bias", true, origin);
        if (ssm.contains("dt_rank") && ssm["dt_rank"].is_string()) c.time_step_rank = (c.hidden_size + 15) / 16;
        else c.time_step_rank = json_int(ssm, "dt_rank", (c.hidden_size + 15) / 16, origin);
        if (j.contains("norm_epsilon") && j["norm_epsilon"].is_number()) c.norm_eps = j["norm_epsilon"].get<float>();
    } else {
        fail_format(origin + ": neither 'model_type' nor 'd_model': not a Mamba config");
    }
    c.bos_token_id = token_field(j, "bos_token_id");
    c.eos_token_id = token_field(j, "eos_token_id");

    // Bounds: positive, and small enough that sizes cannot overflow.
    require_range(origin, "hidden_size", c.hidden_size, 1, 1 << 16);
    require_range(origin, "num_hidden_layers", c.num_layers, 1, 1 << 12);
    require_range(origin, "vocab_size", c.vocab_size, 1, 1 << 24);
    require_range(origin, "state_size", c.state_size, 1, 1 << 12);
    require_range(origin, "conv_kernel", c.conv_kernel, 1, 64);
    require_range(origin, "intermediate_size", c.intermediate_size, 1, 1 << 18);
    require_range(origin, "time_step_rank", c.time_step_rank, 1, 1 << 16);
    if (!(c.norm_eps > 0.0f) || !(c.norm_eps < 1.0f))
        fail_format(origin + ": 'layer_norm_epsilon' must be in (0, 1)");
    return c;
}

}  // namespace krait
