// LlamaConfig: the hyper-parameters of a Llama-family transformer language
// model (model_type llama, mistral, qwen2), read from a Hugging Face
// config.json as transformers 5 writes it (rope_parameters) or as older
// checkpoints have it (rope_theta + rope_scaling).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace krait {

// Rotary position embedding: how the per-pair frequencies are made, following
// transformers' modeling_rope_utils (default, linear, dynamic, llama3, yarn).
struct RopeConfig {
    enum class Type { Default, Linear, Dynamic, Llama3, Yarn };
    Type type = Type::Default;
    double theta = 10000.0;              // rope_theta
    double factor = 1.0;                 // linear / dynamic / llama3 / yarn
    double low_freq_factor = 1.0;        // llama3
    double high_freq_factor = 4.0;       // llama3
    int64_t original_max_positions = 0;  // llama3 / yarn: original_max_position_embeddings
    double attention_factor = -1.0;      // yarn: < 0 = derived from factor (and mscale / mscale_all_dim)
    double mscale = 0.0, mscale_all_dim = 0.0;  // yarn, 0 = absent
    double beta_fast = 32.0, beta_slow = 1.0;   // yarn
    bool truncate = true;                        // yarn

    // The inverse frequencies [head_dim / 2] and the cos/sin scaling for a
    // call whose longest sequence is `seq_len` tokens (only dynamic NTK
    // depends on it: above max_positions it stretches the base, as
    // transformers recomputes it for each forward).
    void frequencies(int64_t head_dim, int64_t max_positions, int64_t seq_len, std::vector<float>& inv_freq,
                     float& scaling) const;
    bool depends_on_length() const { return type == Type::Dynamic; }
};

struct LlamaConfig {
    std::string model_type;          // "llama", "mistral", "qwen2"
    int64_t vocab_size = 0;          // V
    int64_t hidden_size = 0;         // D
    int64_t intermediate_size = 0;   // F (MLP width)
    int64_t num_layers = 0;
    int64_t num_heads = 0;           // H query heads
    int64_t num_kv_heads = 0;        // KV heads: H (MHA), 1 (MQA) or a divisor of H (GQA)
    int64_t head_dim = 0;            // hd; hidden_size / num_heads unless the config says otherwise
    float rms_norm_eps = 1e-6f;
    bool qkv_bias = false;           // llama attention_bias, qwen2 always
    bool o_bias = false;             // llama attention_bias only
    bool mlp_bias = false;           // llama mlp_bias
    bool tie_word_embeddings = false;
    int64_t max_positions = 0;       // max_position_embeddings
    RopeConfig rope;
    // Sliding-window attention: layer l attends to the last `sliding_window`
    // positions when layer_sliding[l] (mistral: every layer; qwen2 with
    // use_sliding_window: its layer_types / max_window_layers).
    int64_t sliding_window = 0;
    std::vector<bool> layer_sliding;
    int32_t bos_token_id = -1;
    std::vector<int32_t> eos_token_ids;  // one or several (Llama 3 lists two)

    // Parses and validates config.json in `model_dir`: KRAIT_ERR_IO if it is
    // missing, KRAIT_ERR_FORMAT naming the field if malformed or impossible
    // (heads not divisible by KV heads, a rope type missing its fields, ...),
    // KRAIT_ERR_UNSUPPORTED for a valid choice this version does not run.
    static LlamaConfig from_dir(const std::string& model_dir);
    static LlamaConfig from_json_text(const std::string& text, const std::string& origin);
};

}  // namespace krait
