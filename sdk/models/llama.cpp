#include "sdk/models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/text_file.h"
#include "sdk/models/registry.h"

namespace krait {

// ---- LlamaState ---------------------------------------------------------------------------------------------

LlamaState::LlamaState(int64_t layers, int64_t capacity, int64_t kv_dim)
    : layers_(layers), capacity_(capacity), kv_dim_(kv_dim) {
    const auto n = static_cast<size_t>(layers * capacity * kv_dim);
    k.resize(n);
    v.resize(n);
}

std::unique_ptr<SequenceState> LlamaState::snapshot() const {
    auto s = std::make_unique<LlamaState>(layers_, n_tokens_, kv_dim_);
    // (An empty cache copies nothing: its buffers may be null, which memcpy must not see.)
    for (int64_t l = 0; n_tokens_ > 0 && l < layers_; ++l) {
        const size_t rows = static_cast<size_t>(n_tokens_ * kv_dim_);
        std::memcpy(s->k_rows(l), k.data() + l * capacity_ * kv_dim_, rows * sizeof(float));
        std::memcpy(s->v_rows(l), v.data() + l * capacity_ * kv_dim_, rows * sizeof(float));
    }
    s->n_tokens_ = n_tokens_;
    return s;
}

void LlamaState::restore(const SequenceState& from) {
    const auto& other = checked_cast<const LlamaState>(from, "llama");
    if (other.layers_ != layers_ || other.kv_dim_ != kv_dim_)
        fail_argument("cannot restore a KV cache from one of another model shape");
    if (other.n_tokens_ > capacity_)
        fail_argument("cannot restore " + std::to_string(other.n_tokens_) + " tokens into a context of " +
                      std::to_string(capacity_));
    for (int64_t l = 0; other.n_tokens_ > 0 && l < layers_; ++l) {
        const size_t rows = static_cast<size_t>(other.n_tokens_ * kv_dim_);
        std::memmove(k_rows(l), other.k.data() + l * other.capacity_ * kv_dim_, rows * sizeof(float));
        std::memmove(v_rows(l), other.v.data() + l * other.capacity_ * kv_dim_, rows * sizeof(float));
    }
    n_tokens_ = other.n_tokens_;
}

void LlamaState::export_data(std::vector<float>& out) const {
    const size_t rows = static_cast<size_t>(n_tokens_ * kv_dim_);
    for (const std::vector<float>* cache : {&k, &v})
        for (int64_t l = 0; l < layers_; ++l) {
            const float* first = cache->data() + l * capacity_ * kv_dim_;
            out.insert(out.end(), first, first + rows);
        }
}

void LlamaState::import_data(const float* data, size_t count, int64_t n_tokens) {
    if (n_tokens < 0 || count != static_cast<size_t>(2 * layers_ * n_tokens * kv_dim_))
        fail_format("a KV cache of " + std::to_string(n_tokens) + " tokens holds " +
                    std::to_string(2 * layers_ * std::max<int64_t>(n_tokens, 0) * kv_dim_) + " values, not " +
                    std::to_string(count));
    if (n_tokens > capacity_)
        fail_argument("cannot restore " + std::to_string(n_tokens) + " tokens into a context of " +
                      std::to_string(capacity_));
    const size_t rows = static_cast<size_t>(n_tokens * kv_dim_);
    for (int64_t l = 0; rows > 0 && l < layers_; ++l) {
        std::memcpy(k_rows(l), data + static_cast<size_t>(l) * rows, rows * sizeof(float));
        std::memcpy(v_rows(l), data + static_cast<size_t>(layers_ + l) * rows, rows * sizeof(float));
    }
    n_tokens_ = n_tokens;
}

void LlamaState::truncate(int64_t n) {
    if (n < 0 || n > n_tokens_)
        fail_argument("cannot truncate a sequence of " + std::to_string(n_tokens_) + " tokens to " + std::to_string(n));
    n_tokens_ = n;
}

// ---- Loading ------------------------------------------------------------------------------------------------

std::unique_ptr<LlamaModel> LlamaModel::load(const std::string& dir, const Progress& progress, WeightOptions weights) {
    return load(ModelSource::from_dir(dir), progress, weights);
}

std::unique_ptr<LlamaModel> LlamaModel::load(const ModelSource& source, const Progress& progress, WeightOptions weights) {
    const std::string& dir = source.dir;
    auto model = std::unique_ptr<LlamaModel>(new LlamaModel());
    LlamaConfig& c = model->config_;
    c = LlamaConfig::from_json_text(source.config_text, source.config_origin);
    model->loader_ = source.weights(weights);
    WeightLoader& w = *model->loader_;
    const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, hd = c.head_dim;
    const int64_t Q = c.num_heads * hd, KV = c.num_kv_heads * hd;
    const int64_t total_steps = c.num_layers + 2;
    auto report = [&](int64_t step) {
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };
    report(0);

    AdapterTargets& targets = model->targets_;
    targets.set_architecture(c.model_type);
    auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
        const StoredWeight sw = w.get_stored(name + ".weight", {out, in});
        return make_linear(sw.f32, sw.half, sw.type, bias ? w.get(name + ".bias", {out}) : nullptr, in, out);
    };
    {
        const StoredWeight e = w.get_stored("model.embed_tokens.weight", {V, D});
        model->embed_tokens_ = {e.f32, V, D, -1, e.type, e.half};
    }
    {
        AdapterTarget t;
        t.kind = TargetKind::Embedding;
        t.in = V;
        t.out = D;
        t.replaceable = true;
        t.base_weight = model->embed_tokens_.weight;
        t.base_weight_half = model->embed_tokens_.weight_half;
        t.base_weight_type = model->embed_tokens_.weight_type;
        model->embed_tokens_.slot = targets.add("model.embed_tokens", t);
    }
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        Layer L;
        L.input_norm = w.get(p + "input_layernorm.weight", {D});
        L.q_proj = linear(p + "self_attn.q_proj", D, Q, c.qkv_bias);
        L.k_proj = linear(p + "self_attn.k_proj", D, KV, c.qkv_bias);
        L.v_proj = linear(p + "self_attn.v_proj", D, KV, c.qkv_bias);
        L.o_proj = linear(p + "self_attn.o_proj", Q, D, c.o_bias);
        L.post_norm = w.get(p + "post_attention_layernorm.weight", {D});
        L.gate_proj = linear(p + "mlp.gate_proj", D, F, c.mlp_bias);
        L.up_proj = linear(p + "mlp.up_proj", D, F, c.mlp_bias);
        L.down_proj = linear(p + "mlp.down_proj", F, D, c.mlp_bias);
        L.window = c.layer_sliding[static_cast<size_t>(i)] ? c.sliding_window : 0;
        // Every linear goes into packed panels, F32 or F16/BF16 as stored (half the bytes), which then serve
        // every call, prefill and decode; the row-major weights are given back (one copy held). At one row the
        // panels stream at the memory bound as Eigen's GEMV does (docs/PERFORMANCE.md), prefill gains the
        // packed GEMM, and a token's result does not depend on how many rows its call had (kernels/cpu/gemm.h).
        // Packed before being registered, so adapters see the packed weight.
        for (Linear* l : {&L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.gate_proj, &L.up_proj, &L.down_proj})
            model->packed_.pack_replacing(*l, w);
        for (auto [name, layer] : {std::pair{"self_attn.q_proj", &L.q_proj}, {"self_attn.k_proj", &L.k_proj},
                                   {"self_attn.v_proj", &L.v_proj}, {"self_attn.o_proj", &L.o_proj},
                                   {"mlp.gate_proj", &L.gate_proj}, {"mlp.up_proj", &L.up_proj},
                                   {"mlp.down_proj", &L.down_proj}})
            register_linear(targets, p + name, *layer);
        for (const char* norm : {"input_layernorm", "post_attention_layernorm"})
            targets.add_unsupported(p + norm, TargetKind::Linear,
                                    "'" + p + norm + "' is an RMSNorm; adapters can change linear layers and embeddings only");
        model->layers_.push_back(L);
        report(i + 1);
    }
    model->norm_ = w.get("model.norm.weight", {D});
    targets.add_unsupported("model.norm", TargetKind::Linear,
                            "'model.norm' is an RMSNorm; adapters can change linear layers and embeddings only");
    // A tied model may still ship lm_head.weight (a copy); the config decides, as transformers does.
    if (c.tie_word_embeddings) {
        const Embedding& e = model->embed_tokens_;
        model->lm_head_ = make_linear(e.weight, e.weight_half, e.weight_type, nullptr, D, V);
    } else {
        const StoredWeight h = w.get_stored("lm_head.weight", {V, D});
        model->lm_head_ = make_linear(h.f32, h.half, h.type, nullptr, D, V);
        model->packed_.pack_replacing(model->lm_head_, w);
    }
    // A tied head shares the embedding's rows (gathered per token), so it keeps reading them in place.
    register_linear(targets, "lm_head", model->lm_head_);
    if (!c.rope.depends_on_length())
        c.rope.frequencies(hd, c.max_positions, 0, model->inv_freq_, model->rope_scaling_);

    for (const auto& [pattern, replacement] : source.adapter_aliases) targets.add_alias(pattern, replacement);
    LanguageModelInfo& info = model->info_;
    info.architecture = c.model_type == "llama" ? "llama" : c.model_type == "mistral" ? "mistral" : "qwen2";
    info.vocab_size = V;
    info.hidden_size = D;
    info.num_layers = c.num_layers;
    info.state_size = 0;
    info.max_positions = c.max_positions;
    info.bos_token_id = c.bos_token_id;
    info.eos_token_ids = c.eos_token_ids;
    info.eos_token_id = c.eos_token_ids.empty() ? -1 : c.eos_token_ids[0];
    info.num_parameters = w.parameters_loaded();
    info.source_dtype = w.source_dtype();
    info.weight_bytes = static_cast<int64_t>(w.mapped_bytes() + w.owned_bytes() + model->packed_.bytes());
    report(total_steps);
    return model;
}

std::vector<std::pair<std::string, std::string>> LlamaModel::fingerprint() const {
    auto f = LanguageModel::fingerprint();
    const LlamaConfig& c = config_;
    f.emplace_back("model_type", c.model_type);
    f.emplace_back("intermediate_size", std::to_string(c.intermediate_size));
    f.emplace_back("num_attention_heads", std::to_string(c.num_heads));
    f.emplace_back("num_key_value_heads", std::to_string(c.num_kv_heads));
    f.emplace_back("head_dim", std::to_string(c.head_dim));
    f.emplace_back("max_position_embeddings", std::to_string(c.max_positions));
    return f;
}

std::unique_ptr<SequenceState> LlamaModel::new_state(int64_t context_length) const {
    if (context_length < 1)
        fail_argument("context length must be >= 1, got " + std::to_string(context_length));
    const int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
    // The cache is layers x context x kv_dim floats twice: say so before trying to allocate it.
    const double bytes = 2.0 * static_cast<double>(config_.num_layers) * static_cast<double>(context_length) *
                         static_cast<double>(kv_dim) * sizeof(float);
    if (bytes > 1e12)
        fail(KRAIT_ERR_OUT_OF_MEMORY, "a KV cache for " + std::to_string(context_length) + " tokens would need " +
                                          std::to_string(static_cast<int64_t>(bytes / 1e9)) + " GB");
    return std::make_unique<LlamaState>(config_.num_layers, context_length, kv_dim);
}

// ---- Forward ------------------------------------------------------------------------------------------------

void LlamaModel::eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
                      float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                      const LoraSet* lora) const {
    eval_rows(TokenRows{ids, nullptr, length}, batch, length, states, mode, logits, pool, ws, abort, lora);
}

void LlamaModel::eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                               Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws,
                               const std::atomic<bool>* abort, const LoraSet* lora) const {
    eval_rows(TokenRows{nullptr, embeddings, length}, batch, length, states, mode, logits, pool, ws, abort, lora);
}

void LlamaModel::embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const {
    run_embedding(pool, embed_tokens_, ids, 1, n, n, out, lora);
}

void LlamaModel::eval_rows(const TokenRows& in, int64_t batch, int64_t length, SequenceState* const* states,
                           Logits mode, float* logits, ThreadPool& pool, LmWorkspace& lm_ws,
                           const std::atomic<bool>* abort, const LoraSet* lora) const {
    auto& ws = checked_cast<LlamaWorkspace>(lm_ws, "llama");
    std::vector<LlamaState*> typed(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
        LlamaState& s = checked_cast<LlamaState>(*states[b], "llama");
        // Refuse before touching anything, so a call that does not fit leaves every state as it was.
        if (s.n_tokens() + length > s.capacity())
            fail_argument("the sequence would hold " + std::to_string(s.n_tokens() + length) +
                          " tokens, more than its context length of " + std::to_string(s.capacity()) + " (" +
                          std::to_string(s.n_tokens()) + " already + " + std::to_string(length) + " new)");
        typed[static_cast<size_t>(b)] = &s;
    }
    for_each_chunk(length, kChunkTokens, config_.vocab_size, mode, logits,
                   [&](int64_t start, int64_t n, Logits chunk_mode, float* out, int64_t out_row_stride) {
                       eval_chunk(in.from(start, config_.hidden_size), batch, n, typed.data(), chunk_mode, out,
                                  out_row_stride, pool, ws, abort, lora);
                   });
}

void LlamaModel::eval_chunk(const TokenRows& in, int64_t batch, int64_t length, LlamaState* const* states, Logits mode, float* logits, int64_t logits_row_stride,
                            ThreadPool& pool, LlamaWorkspace& ws, const std::atomic<bool>* abort,
                            const LoraSet* lora) const {
    const auto& c = config_;
    const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, hd = c.head_dim;
    const int64_t Q = c.num_heads * hd, KV = c.num_kv_heads * hd;
    const int64_t M = batch * length;  // rows: batch-major, then time
    float* residual = grow_buffer(ws.residual, M * D);  // [M, D] fp32 residual stream
    float* normed = grow_buffer(ws.normed, M * D);      // [M, D]
    float* q = grow_buffer(ws.q, M * Q);                // [M, H*hd], then the attention output in place
    float* k = grow_buffer(ws.k, M * KV);               // [M, KV*hd] (this chunk's rows, before the cache)
    float* v = grow_buffer(ws.v, M * KV);
    float* gate = grow_buffer(ws.gate, M * F);          // [M, F]
    float* up = grow_buffer(ws.up, M * F);              // [M, F]
    ws.k_caches.resize(static_cast<size_t>(batch));
    ws.v_caches.resize(static_cast<size_t>(batch));
    ws.past.resize(static_cast<size_t>(batch));
    int64_t longest = 0;
    for (int64_t b = 0; b < batch; ++b) {
        ws.past[static_cast<size_t>(b)] = states[b]->n_tokens();
        longest = std::max(longest, states[b]->n_tokens() + length);
    }
    // RoPE frequencies: fixed, or (dynamic NTK) from this call's longest sequence, as transformers does per forward.
    const float* inv_freq = inv_freq_.data();
    float rope_scaling = rope_scaling_;
    if (c.rope.depends_on_length()) {
        c.rope.frequencies(hd, c.max_positions, longest, ws.inv_freq, rope_scaling);
        inv_freq = ws.inv_freq.data();
    }
    CachedAttention attn;
    attn.heads = c.num_heads;
    attn.kv_heads = c.num_kv_heads;
    attn.head_dim = hd;

    auto check_abort = [&] {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
    };

    run_input_rows(pool, embed_tokens_, in, batch, length, residual, lora);

    for (int64_t l = 0; l < c.num_layers; ++l) {
        check_abort();
        const Layer& L = layers_[static_cast<size_t>(l)];
        kernels::active().rms_norm(residual, D, L.input_norm, normed, D, M, D, c.rms_norm_eps);
        run_linear(pool, L.q_proj, normed, M, D, q, Q, false, lora);
        run_linear(pool, L.k_proj, normed, M, D, k, KV, false, lora);
        run_linear(pool, L.v_proj, normed, M, D, v, KV, false, lora);

        // RoPE on q and k at each sequence's positions, then k and v into the caches.
        pool.parallel_for(M, 4, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / length, t = r % length;
                for (auto [x, heads, width] : {std::tuple{q, c.num_heads, Q}, {k, c.num_kv_heads, KV}}) {
                    kernels::RopeParams p;
                    p.rows = 1;
                    p.heads = heads;
                    p.head_dim = hd;
                    p.x = x + r * width;
                    p.x_stride = width;
                    p.first_position = ws.past[static_cast<size_t>(b)] + t;
                    p.inv_freq = inv_freq;
                    p.scaling = rope_scaling;
                    kernels::active().rope(p, 0, 1);
                }
                const int64_t pos = ws.past[static_cast<size_t>(b)] + t;
                std::memcpy(states[b]->k_rows(l) + pos * KV, k + r * KV, static_cast<size_t>(KV) * sizeof(float));
                std::memcpy(states[b]->v_rows(l) + pos * KV, v + r * KV, static_cast<size_t>(KV) * sizeof(float));
            }
        });
        for (int64_t b = 0; b < batch; ++b) {
            ws.k_caches[static_cast<size_t>(b)] = states[b]->k_rows(l);
            ws.v_caches[static_cast<size_t>(b)] = states[b]->v_rows(l);
        }
        attn.window = L.window;
        run_cached_attention(pool, attn, q, Q, batch, length, ws.k_caches.data(), ws.v_caches.data(), KV,
                             ws.past.data(), q, Q, ws.attention);
        run_linear(pool, L.o_proj, q, M, Q, residual, D, /*accumulate=*/true, lora);

        // MLP: down(silu(gate(m)) * up(m)).
        kernels::active().rms_norm(residual, D, L.post_norm, normed, D, M, D, c.rms_norm_eps);
        run_linear(pool, L.gate_proj, normed, M, D, gate, F, false, lora);
        run_linear(pool, L.up_proj, normed, M, D, up, F, false, lora);
        pool.parallel_for(M, 1, [&](int64_t r0, int64_t r1) {
            kernels::active().apply_activation(kernels::ActivationKind::Silu, gate + r0 * F, (r1 - r0) * F);
            for (int64_t i = r0 * F; i < r1 * F; ++i) gate[i] *= up[i];
        });
        run_linear(pool, L.down_proj, gate, M, F, residual, D, /*accumulate=*/true, lora);
    }
    for (int64_t b = 0; b < batch; ++b) states[b]->advance(length);

    if (mode == Logits::None) return;
    check_abort();
    if (mode == Logits::All) {
        kernels::active().rms_norm(residual, D, norm_, normed, D, M, D, c.rms_norm_eps);
        for (int64_t b = 0; b < batch; ++b)
            run_linear(pool, lm_head_, normed + b * length * D, length, D, logits + b * logits_row_stride, V, false, lora);
    } else {  // Last: one row per sequence
        for (int64_t b = 0; b < batch; ++b) {
            kernels::active().rms_norm(residual + ((b + 1) * length - 1) * D, D, norm_, normed, D, 1, D, c.rms_norm_eps);
            run_linear(pool, lm_head_, normed, 1, D, logits + b * logits_row_stride, V, false, lora);
        }
    }
}

ModelFamily llama_family() {
    ModelFamily f;
    f.name = "llama";
    f.model_types = {"llama", "mistral", "qwen2"};
    f.kind = KRAIT_MODEL_SEQUENCE;
    f.load_language_model = [](const ModelSource& source, const LoadOptions& options) -> std::unique_ptr<LanguageModel> {
        return LlamaModel::load(source, options.progress, options.weights);
    };
    return f;
}

}  // namespace krait
