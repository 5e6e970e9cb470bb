// MambaConfig: the hyper-parameters of a Mamba (v1) language model, read from
// a Hugging Face config.json (model_type "mamba") or from the original
// state-spaces layout (d_model / n_layer / ssm_cfg / pad_vocab_size_multiple).
#pragma once

#include <cstdint>
#include <string>

namespace krait {

struct MambaConfig {
    int64_t vocab_size = 0;  // rows of the embedding (after padding, for original configs)
    int64_t hidden_size = 0;  // D
    int64_t state_size = 16;  // N
    int64_t num_layers = 0;
    int64_t intermediate_size = 0;  // E = expand * D
    int64_t conv_kernel = 4;  // K
    int64_t time_step_rank = 0;  // R
    bool use_bias = false;        // in_proj / out_proj bias
    bool use_conv_bias = true;
    float norm_eps = 1e-5f;
    bool tie_word_embeddings = true;
    bool original_layout = false;  // state-spaces names: backbone.embedding.weight
    int32_t bos_token_id = -1;
    int32_t eos_token_id = -1;

    // Parses and validates config.json in `model_dir`. Throws KRAIT_ERR_IO if
    // it is missing, KRAIT_ERR_FORMAT if malformed or impossible (the message
    // names the field), KRAIT_ERR_UNSUPPORTED for another model_type.
    static MambaConfig from_dir(const std::string& model_dir);
    static MambaConfig from_json_text(const std::string& text, const std::string& origin);
};

}  // namespace krait
