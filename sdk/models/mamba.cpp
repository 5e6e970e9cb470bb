#include "sdk/models/mamba.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/models/registry.h"

namespace krait {

void MambaState::reset() {
    std::fill(conv.begin(), conv.end(), 0.0f);
    std::fill(ssm.begin(), ssm.end(), 0.0f);
    n_tokens_ = 0;
}

void MambaState::restore(const SequenceState& from) {
    const auto& other = checked_cast<const MambaState>(from, "mamba");
    if (other.conv.size() != conv.size() || other.ssm.size() != ssm.size())
        fail_argument("cannot restore a Mamba state from one of another model size");
    conv = other.conv;
    ssm = other.ssm;
    n_tokens_ = other.n_tokens_;
}

void MambaState::export_data(std::vector<float>& out) const {
    out.insert(out.end(), conv.begin(), conv.end());
    out.insert(out.end(), ssm.begin(), ssm.end());
}

void MambaState::import_data(const float* data, size_t count, int64_t n_tokens) {
    if (n_tokens < 0 || count != conv.size() + ssm.size())
        fail_format("a Mamba state of this model holds " + std::to_string(conv.size() + ssm.size()) +
                    " values, not " + std::to_string(count));
    std::copy(data, data + conv.size(), conv.begin());
    std::copy(data + conv.size(), data + count, ssm.begin());
    n_tokens_ = n_tokens;
}

void MambaState::truncate(int64_t n) {
    if (n == n_tokens_) return;
    if (n == 0) {
        reset();
        return;
    }
    if (n < 0 || n > n_tokens_)
        fail_argument("cannot truncate a sequence of " + std::to_string(n_tokens_) + " tokens to " + std::to_string(n));
    fail_unsupported("a Mamba state cannot forget tokens (" + std::to_string(n_tokens_) + " -> " + std::to_string(n) +
                     "): its recurrent state holds no per-token history; restore a snapshot taken at " +
                     std::to_string(n) + " tokens instead");
}

ModelFamily mamba_family() {
    ModelFamily f;
    f.name = "mamba";
    f.model_types = {"mamba"};
    f.kind = KRAIT_MODEL_SEQUENCE;
    // The original state-spaces/mamba config.json has no model_type: d_model / n_layer / ssm_cfg.
    f.claims_untyped_config = [](const nlohmann::json& config) { return config.contains("d_model"); };
    f.load_language_model = [](const ModelSource& source, const LoadOptions& options) -> std::unique_ptr<LanguageModel> {
        return MambaModel::load(source, options.progress, options.weights);
    };
    return f;
}

std::unique_ptr<MambaModel> MambaModel::load(const std::string& dir, const Progress& progress, WeightOptions weights) {
    return load(ModelSource::from_dir(dir), progress, weights);
}

std::unique_ptr<MambaModel> MambaModel::load(const ModelSource& source, const Progress& progress, WeightOptions weights) {
    const std::string& dir = source.dir;
    auto model = std::unique_ptr<MambaModel>(new MambaModel());
    MambaConfig& c = model->config_;
    c = MambaConfig::from_json_text(source.config_text, source.config_origin);
    model->loader_ = source.weights(weights);
    WeightLoader& w = *model->loader_;

    const int64_t D = c.hidden_size, E = c.intermediate_size, N = c.state_size, K = c.conv_kernel,
                  R = c.time_step_rank, V = c.vocab_size;
    const int64_t total_steps = c.num_layers + 2;
    auto report = [&](int64_t step) {
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };
    report(0);

    AdapterTargets& targets = model->targets_;
    targets.set_architecture("mamba");
    // transformers (and so every peft adapter) says backbone.embeddings; state-spaces checkpoints say embedding.
    const std::string emb_module = c.original_layout ? "backbone.embedding" : "backbone.embeddings";
    {
        const StoredWeight e = w.get_stored(emb_module + ".weight", {V, D});
        model->embeddings_ = {e.f32, V, D, -1, e.type, e.half};
    }
    {
        AdapterTarget t;
        t.kind = TargetKind::Embedding;
        t.in = V;
        t.out = D;
        t.replaceable = true;
        t.base_weight = model->embeddings_.weight;
        t.base_weight_half = model->embeddings_.weight_half;
        t.base_weight_type = model->embeddings_.weight_type;
        model->embeddings_.slot = targets.add(emb_module, t);
        if (c.original_layout) targets.add_alias("backbone\\.embeddings", emb_module);
    }

    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "backbone.layers." + std::to_string(i) + ".";
        Layer L;
        L.norm = w.get(p + "norm.weight", {D});
        auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
            const StoredWeight sw = w.get_stored(name + ".weight", {out, in});
            return make_linear(sw.f32, sw.half, sw.type, bias ? w.get(name + ".bias", {out}) : nullptr, in, out);
        };
        L.in_proj = linear(p + "mixer.in_proj", D, 2 * E, c.use_bias);
        L.conv_weight = w.get(p + "mixer.conv1d.weight", {E, 1, K});
        L.conv_bias = c.use_conv_bias ? w.get(p + "mixer.conv1d.bias", {E}) : nullptr;
        SelectiveSsmWeights& ssm = L.ssm;
        ssm.channels = E;
        ssm.state = N;
        ssm.rank = R;
        ssm.x_proj = linear(p + "mixer.x_proj", E, R + 2 * N, false);
        ssm.dt_proj = linear(p + "mixer.dt_proj", R, E, false);
        ssm.dt_bias = w.get(p + "mixer.dt_proj.bias", {E});
        const float* A_log = w.get(p + "mixer.A_log", {E, N});
        float* A = w.allocate(static_cast<size_t>(N * E));
        for (int64_t e = 0; e < E; ++e)
            for (int64_t n = 0; n < N; ++n) A[n * E + e] = -std::exp(A_log[e * N + n]);
        ssm.A = A;
        ssm.D = w.get(p + "mixer.D", {E});
        L.out_proj = linear(p + "mixer.out_proj", E, D, c.use_bias);
        // Every linear goes into packed panels (F32, or F16/BF16 as stored) that replace the row-major weight
        // and serve every call, prefill and decode alike. Besides one copy of the weights and the faster
        // prefill GEMM, this makes a token's state independent of how the sequence was cut into calls:
        // gemm_packed computes each output as one FMA chain whatever the number of rows (kernels/cpu/gemm.h),
        // so decoding tokens one by one gives the bits a batched prefill gives, and a conversation that
        // resumes a snapshot equals a fresh session bit for bit. Packed before being registered, so adapters
        // see the packed weight.
        for (Linear* l : {&L.in_proj, &L.ssm.x_proj, &L.ssm.dt_proj, &L.out_proj}) model->packed_.pack_replacing(*l, w);
        register_linear(targets, p + "mixer.in_proj", L.in_proj);
        register_linear(targets, p + "mixer.x_proj", L.ssm.x_proj);
        register_linear(targets, p + "mixer.dt_proj", L.ssm.dt_proj);
        register_linear(targets, p + "mixer.out_proj", L.out_proj);
        targets.add_unsupported(p + "mixer.conv1d", TargetKind::Conv1d,
                                "LoRA on Mamba's mixer.conv1d is not supported: transformers' own decode step reads "
                                "conv1d.weight directly, so such an adapter has no single meaning");
        targets.add_unsupported(p + "norm", TargetKind::Linear, "'" + p + "norm' is an RMSNorm; adapters can change "
                                "linear layers and embeddings only");
        model->layers_.push_back(L);
        report(i + 1);
    }
    model->norm_f_ = w.get("backbone.norm_f.weight", {D});
    if (c.tie_word_embeddings) {
        const Embedding& e = model->embeddings_;
        model->lm_head_ = make_linear(e.weight, e.weight_half, e.weight_type, nullptr, D, V);
    } else {
        const StoredWeight h = w.get_stored("lm_head.weight", {V, D});
        model->lm_head_ = make_linear(h.f32, h.half, h.type, nullptr, D, V);
        model->packed_.pack_replacing(model->lm_head_, w);
    }
    register_linear(targets, "lm_head", model->lm_head_);
    targets.add_unsupported("backbone.norm_f", TargetKind::Linear,
                            "'backbone.norm_f' is an RMSNorm; adapters can change linear layers and embeddings only");
    for (const auto& [pattern, replacement] : source.adapter_aliases) targets.add_alias(pattern, replacement);
    LanguageModelInfo& info = model->info_;
    info.architecture = "mamba";
    info.vocab_size = V;
    info.hidden_size = D;
    info.num_layers = c.num_layers;
    info.state_size = N;
    info.max_positions = 0;  // recurrent: no position limit
    info.bos_token_id = c.bos_token_id;
    info.eos_token_id = c.eos_token_id;
    if (c.eos_token_id >= 0) info.eos_token_ids = {c.eos_token_id};
    info.num_parameters = model->num_parameters();
    info.source_dtype = model->source_dtype();
    info.weight_bytes = static_cast<int64_t>(w.mapped_bytes() + w.owned_bytes() + model->packed_.bytes());
    report(total_steps);
    return model;
}

std::vector<std::pair<std::string, std::string>> MambaModel::fingerprint() const {
    auto f = LanguageModel::fingerprint();
    const MambaConfig& c = config_;
    f.emplace_back("intermediate_size", std::to_string(c.intermediate_size));
    f.emplace_back("conv_kernel", std::to_string(c.conv_kernel));
    f.emplace_back("time_step_rank", std::to_string(c.time_step_rank));
    return f;
}

MambaState MambaModel::new_state() const {
    const auto& c = config_;
    MambaState s;
    s.conv.assign(static_cast<size_t>(c.num_layers * (c.conv_kernel - 1) * c.intermediate_size), 0.0f);
    s.ssm.assign(static_cast<size_t>(c.num_layers * c.state_size * c.intermediate_size), 0.0f);
    return s;
}

void MambaModel::eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
                      float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                      const LoraSet* lora) const {
    std::vector<MambaState*> typed(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) typed[static_cast<size_t>(b)] = &checked_cast<MambaState>(*states[b], "mamba");
    eval(ids, batch, length, typed.data(), mode, logits, pool, checked_cast<MambaWorkspace>(ws, "mamba"), abort, lora);
}

void MambaModel::eval(const int32_t* ids, int64_t batch, int64_t length, MambaState* const* states, Logits mode,
                      float* logits, ThreadPool& pool, MambaWorkspace& ws, const std::atomic<bool>* abort,
                      const LoraSet* lora) const {
    eval_rows(TokenRows{ids, nullptr, length}, batch, length, states, mode, logits, pool, ws, abort, lora);
}

void MambaModel::eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                               Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws,
                               const std::atomic<bool>* abort, const LoraSet* lora) const {
    std::vector<MambaState*> typed(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) typed[static_cast<size_t>(b)] = &checked_cast<MambaState>(*states[b], "mamba");
    eval_rows(TokenRows{nullptr, embeddings, length}, batch, length, typed.data(), mode, logits, pool,
              checked_cast<MambaWorkspace>(ws, "mamba"), abort, lora);
}

void MambaModel::embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const {
    run_embedding(pool, embeddings_, ids, 1, n, n, out, lora);
}

void MambaModel::eval_rows(const TokenRows& in, int64_t batch, int64_t length, MambaState* const* states, Logits mode,
                           float* logits, ThreadPool& pool, MambaWorkspace& ws, const std::atomic<bool>* abort,
                           const LoraSet* lora) const {
    for_each_chunk(length, kChunkTokens, config_.vocab_size, mode, logits,
                   [&](int64_t start, int64_t n, Logits chunk_mode, float* out, int64_t out_row_stride) {
                       eval_chunk(in.from(start, config_.hidden_size), batch, n, states, chunk_mode, out,
                                  out_row_stride, pool, ws, abort, lora);
                   });
}

void MambaModel::eval_chunk(const TokenRows& in, int64_t batch, int64_t length, MambaState* const* states, Logits mode, float* logits, int64_t logits_row_stride,
                            ThreadPool& pool, MambaWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora) const {
    const auto& c = config_;
    const int64_t D = c.hidden_size, E = c.intermediate_size, N = c.state_size, K = c.conv_kernel,
                  R = c.time_step_rank, V = c.vocab_size;
    const int64_t M = batch * length;  // rows: batch-major, then time
    float* residual = grow_buffer(ws.residual, M * D);  // [M, D], fp32 residual stream
    float* normed = grow_buffer(ws.normed, M * D);      // [M, D]
    float* xz = grow_buffer(ws.xz, M * 2 * E);          // [M, 2E]: x | z
    float* x_conv = grow_buffer(ws.x_conv, M * E);      // [M, E]
    float* y = grow_buffer(ws.y, M * E);                // [M, E]
    float* ssm_scratch = grow_buffer(ws.ssm_scratch, M * (R + 2 * N + E));  // x_dbl | dt of the SSM
    ws.ssm_states.resize(static_cast<size_t>(batch));

    auto check_abort = [&] {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
    };

    run_input_rows(pool, embeddings_, in, batch, length, residual, lora);

    for (int64_t l = 0; l < c.num_layers; ++l) {
        check_abort();
        const Layer& L = layers_[l];
        kernels::active().rms_norm(residual, D, L.norm, normed, D, M, D, c.norm_eps);
        run_linear(pool, L.in_proj, normed, M, D, xz, 2 * E, false, lora);

        // Conv over time per sequence, channels split over threads.
        pool.parallel_for(E, 16, [&](int64_t e0, int64_t e1) {
            for (int64_t b = 0; b < batch; ++b) {
                kernels::CausalConv1dParams p;
                p.length = length;
                p.channels = E;
                p.kernel = K;
                p.x = xz + b * length * 2 * E;
                p.x_stride = 2 * E;
                p.weight = L.conv_weight;
                p.bias = L.conv_bias;
                p.history = states[b]->conv.data() + l * (K - 1) * E;
                p.silu = true;
                p.y = x_conv + b * length * E;
                p.y_stride = E;
                kernels::active().causal_conv1d(p, e0, e1);
            }
        });

        // The selective SSM, gated by silu(z), each sequence from its own state.
        for (int64_t b = 0; b < batch; ++b) ws.ssm_states[static_cast<size_t>(b)] = states[b]->ssm.data() + l * N * E;
        run_selective_ssm(pool, L.ssm, x_conv, E, xz + E, 2 * E, batch, length, ws.ssm_states.data(), y, E, ssm_scratch,
                          lora);

        run_linear(pool, L.out_proj, y, M, E, residual, D, /*accumulate=*/true, lora);
    }
    for (int64_t b = 0; b < batch; ++b) states[b]->advance(length);

    if (mode == Logits::None) return;
    check_abort();
    if (mode == Logits::All) {
        kernels::active().rms_norm(residual, D, norm_f_, normed, D, M, D, c.norm_eps);
        for (int64_t b = 0; b < batch; ++b)
            run_linear(pool, lm_head_, normed + b * length * D, length, D, logits + b * logits_row_stride, V, false, lora);
    } else {  // Last: one row per sequence
        for (int64_t b = 0; b < batch; ++b) {
            kernels::active().rms_norm(residual + ((b + 1) * length - 1) * D, D, norm_f_, normed, D, 1, D, c.norm_eps);
            run_linear(pool, lm_head_, normed, 1, D, logits + b * logits_row_stride, V, false, lora);
        }
    }
}

}  // namespace krait
