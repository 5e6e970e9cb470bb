#include "sdk/models/mamba2.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/ssd.h"
#include "sdk/core/error.h"
#include "sdk/core/text_file.h"

namespace krait {

void Mamba2State::reset() {
    std::fill(conv.begin(), conv.end(), 0.0f);
    std::fill(ssm.begin(), ssm.end(), 0.0f);
    n_tokens_ = 0;
}

void Mamba2State::restore(const SequenceState& from) {
    const auto& other = checked_cast<const Mamba2State>(from, "mamba2");
    if (other.conv.size() != conv.size() || other.ssm.size() != ssm.size())
        fail_argument("cannot restore a Mamba-2 state from one of another model size");
    conv = other.conv;
    ssm = other.ssm;
    n_tokens_ = other.n_tokens_;
}

void Mamba2State::export_data(std::vector<float>& out) const {
    out.insert(out.end(), conv.begin(), conv.end());
    out.insert(out.end(), ssm.begin(), ssm.end());
}

void Mamba2State::import_data(const float* data, size_t count, int64_t n_tokens) {
    if (n_tokens < 0 || count != conv.size() + ssm.size())
        fail_format("a Mamba-2 state of this model holds " + std::to_string(conv.size() + ssm.size()) +
                    " values, not " + std::to_string(count));
    std::copy(data, data + conv.size(), conv.begin());
    std::copy(data + conv.size(), data + count, ssm.begin());
    n_tokens_ = n_tokens;
}

void Mamba2State::truncate(int64_t n) {
    if (n == n_tokens_) return;
    if (n == 0) {
        reset();
        return;
    }
    if (n < 0 || n > n_tokens_)
        fail_argument("cannot truncate a sequence of " + std::to_string(n_tokens_) + " tokens to " + std::to_string(n));
    fail_unsupported("a Mamba-2 state cannot forget tokens (" + std::to_string(n_tokens_) + " -> " +
                     std::to_string(n) + "): its recurrent state holds no per-token history; restore a snapshot taken at " +
                     std::to_string(n) + " tokens instead");
}

ModelFamily mamba2_family() {
    ModelFamily f;
    f.name = "mamba2";
    f.model_types = {"mamba2"};
    f.kind = KRAIT_MODEL_SEQUENCE;
    f.load_language_model = [](const ModelSource& source, const LoadOptions& options) -> std::unique_ptr<LanguageModel> {
        return Mamba2Model::load(source, options.progress, options.weights);
    };
    return f;
}

std::unique_ptr<Mamba2Model> Mamba2Model::load(const std::string& dir, const Progress& progress, WeightOptions weights) {
    return load(ModelSource::from_dir(dir), progress, weights);
}

std::unique_ptr<Mamba2Model> Mamba2Model::load(const ModelSource& source, const Progress& progress,
                                               WeightOptions weights) {
    auto model = std::unique_ptr<Mamba2Model>(new Mamba2Model());
    Mamba2Config& c = model->config_;
    c = Mamba2Config::from_json_text(source.config_text, source.config_origin);
    model->loader_ = source.weights(weights);
    WeightLoader& w = *model->loader_;

    const int64_t D = c.hidden_size, E = c.intermediate_size, H = c.num_heads, K = c.conv_kernel, V = c.vocab_size,
                  CD = c.conv_dim(), PS = c.projection_size();
    const int64_t total_steps = c.num_layers + 2;
    auto report = [&](int64_t step) {
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, source.dir + ": loading cancelled by the progress callback");
    };
    report(0);

    AdapterTargets& targets = model->targets_;
    targets.set_architecture("mamba2");
    {
        const StoredWeight e = w.get_stored("backbone.embeddings.weight", {V, D});
        model->embeddings_ = {e.f32, V, D, -1, e.type, e.half};
        AdapterTarget t;
        t.kind = TargetKind::Embedding;
        t.in = V;
        t.out = D;
        t.replaceable = true;
        t.base_weight = model->embeddings_.weight;
        t.base_weight_half = model->embeddings_.weight_half;
        t.base_weight_type = model->embeddings_.weight_type;
        model->embeddings_.slot = targets.add("backbone.embeddings", t);
    }
    auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
        const StoredWeight sw = w.get_stored(name + ".weight", {out, in});
        return make_linear(sw.f32, sw.half, sw.type, bias ? w.get(name + ".bias", {out}) : nullptr, in, out);
    };
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "backbone.layers." + std::to_string(i) + ".";
        Layer L;
        L.norm = w.get(p + "norm.weight", {D});
        L.in_proj = linear(p + "mixer.in_proj", D, PS, c.use_bias);
        L.conv_weight = w.get(p + "mixer.conv1d.weight", {CD, 1, K});
        L.conv_bias = c.use_conv_bias ? w.get(p + "mixer.conv1d.bias", {CD}) : nullptr;
        L.dt_bias = w.get(p + "mixer.dt_bias", {H});
        const float* A_log = w.get(p + "mixer.A_log", {H});
        float* A = w.allocate(static_cast<size_t>(H));
        for (int64_t h = 0; h < H; ++h) A[h] = -std::exp(A_log[h]);
        L.A = A;
        L.D = w.get(p + "mixer.D", {H});
        L.gate_norm = w.get(p + "mixer.norm.weight", {E});
        L.out_proj = linear(p + "mixer.out_proj", E, D, c.use_bias);
        // Packed panels serve every call (see mamba.cpp): one copy of the weights, and a token's result
        // does not depend on how many rows its linear call had.
        for (Linear* l : {&L.in_proj, &L.out_proj}) model->packed_.pack_replacing(*l, w);
        register_linear(targets, p + "mixer.in_proj", L.in_proj);
        register_linear(targets, p + "mixer.out_proj", L.out_proj);
        targets.add_unsupported(p + "mixer.conv1d", TargetKind::Conv1d,
                                "LoRA on Mamba-2's mixer.conv1d is not supported: transformers' decode step reads "
                                "conv1d.weight directly, so such an adapter has no single meaning");
        targets.add_unsupported(p + "norm", TargetKind::Linear,
                                "'" + p + "norm' is an RMSNorm; adapters can change linear layers and embeddings only");
        targets.add_unsupported(p + "mixer.norm", TargetKind::Linear,
                                "'" + p + "mixer.norm' is a gated RMSNorm; adapters can change linear layers and "
                                "embeddings only");
        model->layers_.push_back(L);
        report(i + 1);
    }
    model->norm_f_ = w.get("backbone.norm_f.weight", {D});
    if (c.tie_word_embeddings) {
        const Embedding& e = model->embeddings_;
        model->lm_head_ = make_linear(e.weight, e.weight_half, e.weight_type, nullptr, D, V);
    } else {
        model->lm_head_ = linear("lm_head", D, V, false);
        model->packed_.pack_replacing(model->lm_head_, w);
    }
    register_linear(targets, "lm_head", model->lm_head_);
    targets.add_unsupported("backbone.norm_f", TargetKind::Linear,
                            "'backbone.norm_f' is an RMSNorm; adapters can change linear layers and embeddings only");
    for (const auto& [pattern, replacement] : source.adapter_aliases) targets.add_alias(pattern, replacement);

    LanguageModelInfo& info = model->info_;
    info.architecture = "mamba2";
    info.vocab_size = V;
    info.hidden_size = D;
    info.num_layers = c.num_layers;
    info.state_size = c.state_size;
    info.max_positions = 0;
    info.bos_token_id = c.bos_token_id;
    info.eos_token_id = c.eos_token_id;
    if (c.eos_token_id >= 0) info.eos_token_ids = {c.eos_token_id};
    info.num_parameters = w.parameters_loaded();
    info.source_dtype = w.source_dtype();
    info.weight_bytes = static_cast<int64_t>(w.mapped_bytes() + w.owned_bytes() + model->packed_.bytes());
    report(total_steps);
    return model;
}

std::vector<std::pair<std::string, std::string>> Mamba2Model::fingerprint() const {
    auto f = LanguageModel::fingerprint();
    const Mamba2Config& c = config_;
    f.emplace_back("num_heads", std::to_string(c.num_heads));
    f.emplace_back("head_dim", std::to_string(c.head_dim));
    f.emplace_back("n_groups", std::to_string(c.n_groups));
    f.emplace_back("conv_kernel", std::to_string(c.conv_kernel));
    return f;
}

Mamba2State Mamba2Model::new_state() const {
    const auto& c = config_;
    Mamba2State s;
    s.conv.assign(static_cast<size_t>(c.num_layers * (c.conv_kernel - 1) * c.conv_dim()), 0.0f);
    s.ssm.assign(static_cast<size_t>(c.num_layers * c.num_heads * c.head_dim * c.state_size), 0.0f);
    return s;
}

void Mamba2Model::eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
                       float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                       const LoraSet* lora) const {
    std::vector<Mamba2State*> typed(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) typed[static_cast<size_t>(b)] = &checked_cast<Mamba2State>(*states[b], "mamba2");
    eval_rows(TokenRows{ids, nullptr, length}, batch, length, typed.data(), mode, logits, pool,
              checked_cast<Mamba2Workspace>(ws, "mamba2"), abort, lora);
}

void Mamba2Model::eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                                Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws,
                                const std::atomic<bool>* abort, const LoraSet* lora) const {
    std::vector<Mamba2State*> typed(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) typed[static_cast<size_t>(b)] = &checked_cast<Mamba2State>(*states[b], "mamba2");
    eval_rows(TokenRows{nullptr, embeddings, length}, batch, length, typed.data(), mode, logits, pool,
              checked_cast<Mamba2Workspace>(ws, "mamba2"), abort, lora);
}

void Mamba2Model::embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const {
    run_embedding(pool, embeddings_, ids, 1, n, n, out, lora);
}

void Mamba2Model::eval_rows(const TokenRows& in, int64_t batch, int64_t length, Mamba2State* const* states, Logits mode,
                            float* logits, ThreadPool& pool, Mamba2Workspace& ws, const std::atomic<bool>* abort,
                            const LoraSet* lora) const {
    for_each_chunk(length, kChunkTokens, config_.vocab_size, mode, logits,
                   [&](int64_t start, int64_t n, Logits chunk_mode, float* out, int64_t out_row_stride) {
                       eval_chunk(in.from(start, config_.hidden_size), batch, n, states, chunk_mode, out,
                                  out_row_stride, pool, ws, abort, lora);
                   });
}

void Mamba2Model::eval_chunk(const TokenRows& in, int64_t batch, int64_t length, Mamba2State* const* states,
                             Logits mode, float* logits, int64_t logits_row_stride, ThreadPool& pool,
                             Mamba2Workspace& ws, const std::atomic<bool>* abort, const LoraSet* lora) const {
    const auto& c = config_;
    const int64_t D = c.hidden_size, E = c.intermediate_size, H = c.num_heads, P = c.head_dim, N = c.state_size,
                  G = c.n_groups, K = c.conv_kernel, V = c.vocab_size, CD = c.conv_dim(), PS = c.projection_size();
    const int64_t M = batch * length;  // rows: batch-major, then time
    float* residual = grow_buffer(ws.residual, M * D);
    float* normed = grow_buffer(ws.normed, M * D);
    float* proj = grow_buffer(ws.proj, M * PS);  // [M, PS]: z | xBC | dt
    float* xbc = grow_buffer(ws.xbc, M * CD);    // [M, CD]: the conv's output x | B | C
    float* y = grow_buffer(ws.y, M * E);         // [M, E]

    auto check_abort = [&] {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
    };

    run_input_rows(pool, embeddings_, in, batch, length, residual, lora);

    for (int64_t l = 0; l < c.num_layers; ++l) {
        check_abort();
        const Layer& L = layers_[l];
        kernels::active().rms_norm(residual, D, L.norm, normed, D, M, D, c.norm_eps);
        run_linear(pool, L.in_proj, normed, M, D, proj, PS, false, lora);

        pool.parallel_for(CD, 16, [&](int64_t c0, int64_t c1) {
            for (int64_t b = 0; b < batch; ++b) {
                kernels::CausalConv1dParams p;
                p.length = length;
                p.channels = CD;
                p.kernel = K;
                p.x = proj + b * length * PS + E;
                p.x_stride = PS;
                p.weight = L.conv_weight;
                p.bias = L.conv_bias;
                p.history = states[b]->conv.data() + l * (K - 1) * CD;
                p.silu = true;
                p.y = xbc + b * length * CD;
                p.y_stride = CD;
                kernels::active().causal_conv1d(p, c0, c1);
            }
        });

        pool.parallel_for(batch * H, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1;) {
                const int64_t b = i / H, h0 = i % H, h1 = std::min(H, h0 + (i1 - i));
                kernels::SsdParams p;
                p.length = length;
                p.heads = H;
                p.head_dim = P;
                p.groups = G;
                p.state = N;
                p.chunk = kSsdChunk;
                p.x = xbc + b * length * CD;
                p.x_stride = CD;
                p.dt = proj + b * length * PS + E + CD;
                p.dt_stride = PS;
                p.dt_bias = L.dt_bias;
                p.dt_min = c.dt_min;
                p.dt_max = c.dt_max;
                p.A = L.A;
                p.B = xbc + b * length * CD + E;
                p.B_stride = CD;
                p.C = xbc + b * length * CD + E + G * N;
                p.C_stride = CD;
                p.D = L.D;
                p.h = states[b]->ssm.data() + l * H * P * N;
                p.y = y + b * length * E;
                p.y_stride = E;
                if (length <= kScanMaxTokens)
                    kernels::active().ssd_scan(p, h0, h1);
                else
                    kernels::active().ssd_chunked(p, h0, h1);
                i += h1 - h0;
            }
        });

        pool.parallel_for(M, 8, [&](int64_t r0, int64_t r1) {
            kernels::active().gated_rms_norm(y + r0 * E, E, proj + r0 * PS, PS, L.gate_norm, y + r0 * E, E, r1 - r0,
                                             E, G, c.norm_eps);
        });

        run_linear(pool, L.out_proj, y, M, E, residual, D, /*accumulate=*/true, lora);
    }
    for (int64_t b = 0; b < batch; ++b) states[b]->advance(length);

    if (mode == Logits::None) return;
    check_abort();
    if (mode == Logits::All) {
        kernels::active().rms_norm(residual, D, norm_f_, normed, D, M, D, c.norm_eps);
        for (int64_t b = 0; b < batch; ++b)
            run_linear(pool, lm_head_, normed + b * length * D, length, D, logits + b * logits_row_stride, V, false,
                       lora);
    } else {
        for (int64_t b = 0; b < batch; ++b) {
            kernels::active().rms_norm(residual + ((b + 1) * length - 1) * D, D, norm_f_, normed, D, 1, D, c.norm_eps);
            run_linear(pool, lm_head_, normed, 1, D, logits + b * logits_row_stride, V, false, lora);
        }
    }
}

}  // namespace krait
