#include "sdk/adapters/lora_adapter.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/io/safetensors.h"

namespace krait {

LoraAdapter::LoraAdapter() {
    static std::atomic<uint64_t> next_serial{1};
    serial_ = next_serial.fetch_add(1, std::memory_order_relaxed);
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kPeftPrefix = "base_model.model.";

// The tensors of one module in the file, by role.
struct ModuleTensors {
    const TensorInfo* A = nullptr;  // lora_A.weight or lora_embedding_A
    const TensorInfo* B = nullptr;  // lora_B.weight or lora_embedding_B
    bool embedding_form = false;    // lora_embedding_A/B rather than lora_A/B.weight
    const TensorInfo* weight = nullptr;  // modules_to_save replacement
    const TensorInfo* bias = nullptr;
    std::string A_key, B_key, weight_key;  // as in the file, for messages
};

bool ends_with(const std::string& s, const std::string& suffix, std::string* stem) {
    if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
    *stem = s.substr(0, s.size() - suffix.size());
    return true;
}

// The tensor as F32, checked finite.
std::vector<float> to_f32(const TensorInfo& t, const std::string& where) {
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
        fail_format(where + " has dtype " + dtype_name(t.dtype) + ", expected F32, F16 or BF16");
    std::vector<float> out(static_cast<size_t>(t.numel()));
    convert_to_f32(t.dtype, t.data, out.size(), out.data());
    for (size_t i = 0; i < out.size(); ++i)
        if (!std::isfinite(out[i])) fail_format(where + " holds a non-finite value (" + std::to_string(out[i]) + ")");
    return out;
}

std::string dims(const std::vector<int64_t>& s) { return shape_to_string(s); }

// Label names of a replaced head: id2label in the adapter folder's config.json
// (where fine-tuning scripts save the new model config), else LABEL_<i>.
std::vector<std::string> head_labels(const std::string& dir, int64_t classes) {
    const auto path = (fs::path(dir) / "config.json").string();
    std::vector<std::string> labels;
    if (fs::exists(path)) {
        const auto j = parse_json_object(read_text_file(path, path + ": cannot be read"), path);
        if (j.contains("id2label") && !j["id2label"].is_null()) {
            labels = parse_id2label(j["id2label"], path, 1 << 24);
            if (static_cast<int64_t>(labels.size()) != classes)
                fail_format(path + ": 'id2label' has " + std::to_string(labels.size()) +
                            " labels but the adapter's head has " + std::to_string(classes) + " outputs");
        }
    }
    if (labels.empty())
        for (int64_t i = 0; i < classes; ++i) labels.push_back("LABEL_" + std::to_string(i));
    return labels;
}

}  // namespace

std::shared_ptr<const LoraAdapter> LoraAdapter::load(const std::string& dir, const AdapterTargets& targets,
                                                     const std::string& name) {
    if (!fs::is_directory(dir)) fail_io(dir + ": not a directory (expected a PEFT adapter folder)");
    auto adapter = std::shared_ptr<LoraAdapter>(new LoraAdapter());
    adapter->dir_ = dir;
    adapter->targets_ = &targets;
    adapter->name_ = name;
    if (adapter->name_.empty()) {
        adapter->name_ = fs::path(dir).lexically_normal().filename().string();
        if (adapter->name_.empty()) adapter->name_ = fs::path(dir).lexically_normal().parent_path().filename().string();
    }

    const auto config_path = (fs::path(dir) / "adapter_config.json").string();
    adapter->config_ = LoraConfig::from_json_text(
        read_text_file(config_path, dir + ": no adapter_config.json (not a PEFT adapter folder?)"), config_path);
    const LoraConfig& cfg = adapter->config_;

    const auto weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
    if (!fs::exists(weights_path)) {
        if (fs::exists(fs::path(dir) / "adapter_model.bin"))
            fail_unsupported(dir + ": adapter_model.bin (pickle) is not loaded; save the adapter with "
                                   "safe_serialization=True (peft's default) to get adapter_model.safetensors");
        fail_io(dir + ": no adapter_model.safetensors");
    }
    const SafetensorsFile file(weights_path);
    const std::string arch = targets.architecture();

    // Group the keys by module (the adapter's own naming, peft prefix removed).
    std::map<std::string, ModuleTensors> modules;
    std::map<std::string, std::pair<const TensorInfo*, std::string>> saved_bases;  // module -> (tensor, key)
    for (const auto& [key, info] : file.tensors()) {
        std::string k = key.starts_with(kPeftPrefix) ? key.substr(std::string(kPeftPrefix).size()) : key;
        std::string module;
        if (ends_with(k, ".lora_A.weight", &module)) {
            modules[module].A = &info, modules[module].A_key = key;
        } else if (ends_with(k, ".lora_B.weight", &module)) {
            modules[module].B = &info, modules[module].B_key = key;
        } else if (ends_with(k, ".lora_embedding_A", &module)) {
            modules[module].A = &info, modules[module].A_key = key, modules[module].embedding_form = true;
        } else if (ends_with(k, ".lora_embedding_B", &module)) {
            modules[module].B = &info, modules[module].B_key = key, modules[module].embedding_form = true;
        } else if (ends_with(k, ".lora_B.bias", &module)) {
            fail_unsupported(weights_path + ": tensor " + krait::quote(key) + " is a lora_B bias (lora_bias), which is not supported");
        } else if (ends_with(k, ".lora_magnitude_vector", &module) || ends_with(k, ".lora_magnitude_vector.weight", &module)) {
            fail_unsupported(weights_path + ": tensor " + krait::quote(key) + " belongs to a DoRA adapter, which is not supported");
        } else if (ends_with(k, ".base_layer.weight", &module)) {
            // peft's save_embedding_layers: with embed_tokens or lm_head among the targets it saves
            // the whole adapted layer too (checked against the model's below).
            saved_bases[module] = {&info, key};
        } else if ((ends_with(k, ".weight", &module) || ends_with(k, ".bias", &module)) && cfg.saves(module)) {
            auto& m = modules[module];
            if (k.ends_with(".weight")) m.weight = &info, m.weight_key = key;
            else m.bias = &info;
        } else {
            fail_format(weights_path + ": tensor " + krait::quote(key) +
                        " is neither a LoRA weight (lora_A/lora_B/lora_embedding_A/lora_embedding_B) nor part of a "
                        "module listed in adapter_config.json's modules_to_save");
        }
    }
    if (modules.empty()) fail_format(weights_path + ": holds no LoRA weights");

    // Saved copies of adapted layers must be the model's own weights: the adapter was trained on
    // them. A copy that differs comes from a resized or retrained vocabulary, which Krait does not
    // apply (it would replace the base weights); say so rather than compute something else.
    for (const auto& [module, saved] : saved_bases) {
        const auto& [info, key] = saved;
        std::string resolved;
        const AdapterTarget* target = targets.resolve(module, &resolved);
        if (!target || !target->has_base_weight())
            fail_format(weights_path + ": " + krait::quote(key) + " is a saved copy of module " + krait::quote(module) +
                        ", which this " + arch + " model does not have as an embedding or linear layer");
        const std::vector<int64_t> want = {target->kind == TargetKind::Embedding ? target->in : target->out,
                                           target->kind == TargetKind::Embedding ? target->out : target->in};
        if (info->shape != want)
            fail_unsupported(weights_path + ": " + krait::quote(key) + " has shape " + dims(info->shape) + ", but the model's " +
                             krait::quote(resolved) + " is " + dims(want) +
                             " (a resized vocabulary, which Krait does not apply from an adapter)");
        const std::vector<float> copy = to_f32(*info, weights_path + ": tensor " + krait::quote(key));
        // Exact for F32 files; an F16/BF16 copy is the model's weight rounded to that type.
        const float tolerance = info->dtype == DType::F32 ? 0.0f : info->dtype == DType::F16 ? 1e-3f : 8e-3f;
        for (size_t i = 0; i < copy.size(); ++i) {
            const float base = target->base_weight_at(i);
            if (std::fabs(copy[i] - base) > tolerance * std::max(1.0f, std::fabs(base)))
                fail_unsupported(weights_path + ": " + krait::quote(key) + " differs from the model's " + krait::quote(resolved) +
                                 " (element " + std::to_string(i) + ": " + std::to_string(copy[i]) + " vs " +
                                 std::to_string(base) + "): the adapter was saved with changed embedding weights, "
                                 "which Krait does not apply");
        }
    }

    for (const auto& [module, t] : modules) {
        std::string resolved;
        const AdapterTarget* target = targets.resolve(module, &resolved);
        const std::string first_key = t.A ? t.A_key : t.B ? t.B_key : t.weight_key;
        if (!target)
            fail_format(weights_path + ": " + krait::quote(first_key) + " names module " + krait::quote(module) + ", which this " + arch +
                        " model does not have (an adapter for another architecture or version?)");
        if (!target->unsupported.empty())
            fail_unsupported(weights_path + ": " + krait::quote(first_key) + ": " + target->unsupported);

        if (t.weight || t.bias) {  // modules_to_save: a whole replacement module
            if (!t.weight) fail_format(weights_path + ": module " + krait::quote(module) + " has a saved bias but no weight");
            if (!target->replaceable)
                fail_unsupported(weights_path + ": modules_to_save " + krait::quote(module) + " (" + target_kind_name(target->kind) +
                                 ") cannot be replaced in Krait; only linear layers and embeddings can");
            ModuleReplacement r;
            r.name = resolved;
            r.target = *target;
            const auto& s = t.weight->shape;
            const std::string where = weights_path + ": tensor " + krait::quote(t.weight_key);
            if (target->kind == TargetKind::Embedding) {
                if (s != std::vector<int64_t>{target->in, target->out})
                    fail_format(where + " has shape " + dims(s) + ", expected [" + std::to_string(target->in) + ", " +
                                std::to_string(target->out) + "] as the model's embedding");
                r.out = target->out;
            } else {
                const bool shape_ok = s.size() == 2 && s[1] == target->in && s[0] >= 1 &&
                                      (target->is_head || s[0] == target->out);
                if (!shape_ok)
                    fail_format(where + " has shape " + dims(s) + ", expected [" +
                                (target->is_head ? std::string("classes") : std::to_string(target->out)) + ", " +
                                std::to_string(target->in) + "] for " + krait::quote(resolved));
                r.out = s[0];
            }
            r.weight = to_f32(*t.weight, where);
            if (target->has_bias != (t.bias != nullptr))
                fail_format(weights_path + ": module " + krait::quote(module) + " " +
                            (target->has_bias ? "lacks the bias the model's module has"
                                              : "has a bias the model's module does not have"));
            if (t.bias) {
                if (t.bias->shape != std::vector<int64_t>{r.out})
                    fail_format(weights_path + ": bias of " + krait::quote(module) + " has shape " + dims(t.bias->shape) +
                                ", expected [" + std::to_string(r.out) + "]");
                r.bias = to_f32(*t.bias, weights_path + ": bias of " + krait::quote(module));
            }
            if (target->is_head) r.labels = head_labels(dir, r.out);
            adapter->replacements_.push_back(std::move(r));
            continue;
        }

        if (!t.A || !t.B)
            fail_format(weights_path + ": module " + krait::quote(module) + " has " + (t.A ? "lora_A" : "lora_B") + " but no " +
                        (t.A ? "lora_B" : "lora_A") + " (" + krait::quote(first_key) + ")");
        if (!cfg.targets(module))
            fail_format(weights_path + ": " + krait::quote(first_key) + " adapts module '" + module +
                        "', which adapter_config.json's target_modules does not name");
        const bool is_embedding = target->kind == TargetKind::Embedding;
        if (t.embedding_form != is_embedding)
            fail_format(weights_path + ": " + krait::quote(first_key) + ": module " + krait::quote(resolved) + " is a" +
                        (is_embedding ? "n embedding (expected lora_embedding_A/B)"
                                      : std::string(" ") + target_kind_name(target->kind) + " (expected lora_A/lora_B)"));

        const auto& a = t.A->shape;
        const auto& b = t.B->shape;
        const std::string wa = weights_path + ": tensor " + krait::quote(t.A_key);
        const std::string wb = weights_path + ": tensor " + krait::quote(t.B_key);
        if (a.empty() || a[0] < 1) fail_format(wa + " has shape " + dims(a) + ", expected [r, ...] with r >= 1");
        const int64_t r = a[0];
        const int64_t g = target->groups;
        std::vector<int64_t> want_a, want_b;
        switch (target->kind) {
            case TargetKind::Linear:
                want_a = {r, target->in};
                want_b = {target->out, r};
                break;
            case TargetKind::Embedding:
                want_a = {r, target->in};
                want_b = {target->out, r};
                break;
            case TargetKind::Conv2d:
                want_a = {r, target->in, target->kernel_h, target->kernel_w};
                want_b = {target->out, r / g, 1, 1};
                break;
            case TargetKind::Conv1d:
                want_a = {r, target->in, target->kernel_w};
                want_b = {target->out, r / g, 1};
                break;
        }
        if (a != want_a)
            fail_format(wa + " has shape " + dims(a) + ", expected " + dims(want_a) + " for '" + resolved +
                        "' (an adapter for another model size?)");
        if (r % g != 0)
            fail_format(wa + ": rank " + std::to_string(r) + " is not a multiple of the conv's groups " +
                        std::to_string(g));
        if (b != want_b) {
            const bool other_size = b.size() == want_b.size() && b[0] != want_b[0];
            fail_format(wb + " has shape " + dims(b) + ", expected " + dims(want_b) +
                        (other_size ? " for " + krait::quote(resolved) + " (an adapter for another model size?)"
                                    : " (lora_A has rank " + std::to_string(r) + ")"));
        }
        const int64_t config_rank = cfg.rank_for(module);
        if (config_rank != r)
            fail_format(weights_path + ": " + krait::quote(t.A_key) + " has rank " + std::to_string(r) +
                        " but adapter_config.json gives module " + krait::quote(module) + " r = " + std::to_string(config_rank));

        LoraModule m;
        m.name = resolved;
        m.adapter_key = module;
        m.target = *target;
        m.rank = r;
        m.scaling = static_cast<float>(cfg.scaling_for(module, r));
        if (!std::isfinite(m.scaling)) fail_format(config_path + ": the scaling of " + krait::quote(module) + " is not finite");
        std::vector<float> A = to_f32(*t.A, wa);
        m.up = to_f32(*t.B, wb);
        switch (target->kind) {
            case TargetKind::Linear: {
                m.down = std::move(A);
                m.down_packed = kernels::pack_weights(m.down.data(), r, target->in);
                const int64_t out = target->out;
                std::vector<float> B = std::move(m.up);  // [out, r] -> [r, out]
                m.up.resize(B.size());
                for (int64_t o = 0; o < out; ++o)
                    for (int64_t j = 0; j < r; ++j) m.up[j * out + o] = B[o * r + j];
                break;
            }
            case TargetKind::Conv2d:
                m.down = std::move(A);
                break;
            case TargetKind::Embedding: {  // A [r, V] -> A^T [V, r]: one contiguous row per token
                const int64_t V = target->in;
                m.down.resize(A.size());
                for (int64_t j = 0; j < r; ++j)
                    for (int64_t v = 0; v < V; ++v) m.down[v * r + j] = A[j * V + v];
                break;
            }
            case TargetKind::Conv1d: {  // A [r, in, K] -> K taps of [r, in]
                const int64_t in = target->in, K = target->kernel_w;
                m.down.resize(A.size());
                for (int64_t j = 0; j < r; ++j)
                    for (int64_t c = 0; c < in; ++c)
                        for (int64_t k = 0; k < K; ++k) m.down[(k * r + j) * in + c] = A[(j * in + c) * K + k];
                break;
            }
        }
        adapter->modules_.push_back(std::move(m));
    }
    return adapter;
}

const ModuleReplacement* LoraAdapter::head() const {
    for (const auto& r : replacements_)
        if (r.target.is_head) return &r;
    return nullptr;
}

int64_t LoraAdapter::max_rank() const {
    int64_t r = 0;
    for (const auto& m : modules_) r = std::max(r, m.rank);
    return r;
}

int64_t LoraAdapter::num_parameters() const {
    int64_t n = 0;
    for (const auto& m : modules_) n += static_cast<int64_t>(m.down.size() + m.up.size());
    for (const auto& r : replacements_) n += static_cast<int64_t>(r.weight.size() + r.bias.size());
    return n;
}

}  // namespace krait
