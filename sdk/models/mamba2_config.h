// Mamba2Config: the hyper-parameters of a Mamba-2 language model, read from a Hugging Face
// config.json (model_type "mamba2", transformers' Mamba2ForCausalLM).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace krait {

struct Mamba2Config {
    int64_t vocab_size = 0;
    int64_t hidden_size = 0;        // D
    int64_t num_layers = 0;
    int64_t num_heads = 0;          // H
    int64_t head_dim = 0;           // P; H * P = intermediate_size E = expand * D
    int64_t intermediate_size = 0;  // E
    int64_t n_groups = 1;           // G: heads share B and C by groups (and the gated norm's groups)
    int64_t state_size = 0;         // N
    int64_t chunk_size = 256;       // Q of the chunked SSD prefill
    int64_t conv_kernel = 4;        // K; the conv runs over xBC: E + 2 G N channels
    bool use_bias = false;          // in_proj / out_proj bias
    bool use_conv_bias = true;
    float norm_eps = 1e-5f;         // layer_norm_epsilon: every RMSNorm, the gated one included
    float dt_min = 0.0f;            // time_step_limit: dt clamped after softplus
    float dt_max = std::numeric_limits<float>::infinity();
    bool tie_word_embeddings = false;  // transformers' Mamba2Config default
    int32_t bos_token_id = -1;
    int32_t eos_token_id = -1;

    int64_t conv_dim() const { return intermediate_size + 2 * n_groups * state_size; }
    // in_proj's outputs: [z (E), xBC (conv_dim), dt (H)].
    int64_t projection_size() const { return intermediate_size + conv_dim() + num_heads; }

    // Parses and validates the config JSON text. Throws KRAIT_ERR_FORMAT if malformed or impossible
    // (the message names the field), KRAIT_ERR_UNSUPPORTED for another model_type or activation.
    static Mamba2Config from_json_text(const std::string& text, const std::string& origin);
};

}  // namespace krait
