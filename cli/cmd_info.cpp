// krait info: facts about a model, or about LoRA adapters loaded for it.
#include "cli_common.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace krait_cli {

namespace {

const char* kind_name(krait_model_kind kind) {
    switch (kind) {
        case KRAIT_MODEL_SEQUENCE: return "sequence (language model)";
        case KRAIT_MODEL_CLASSIFIER: return "classifier";
        case KRAIT_MODEL_ASSISTANT: return "assistant";
        default: return "unknown";
    }
}

std::string human(double value, const char* const* units, int n_units, double step) {
    int u = 0;
    while (value >= step && u + 1 < n_units) {
        value /= step;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f %s", value, units[u]);
    return buf;
}

// The first labels, then how many more: "cat, dog, ... (98 more)".
std::string label_summary(const std::vector<std::string>& labels) {
    std::string shown;
    constexpr size_t kShown = 8;
    for (size_t k = 0; k < labels.size() && k < kShown; ++k) shown += (k ? ", " : "") + labels[k];
    if (labels.size() > kShown) shown += ", ... (" + std::to_string(labels.size() - kShown) + " more)";
    return shown;
}

bool is_adapter_dir(const std::string& dir) {
    std::error_code ec;
    return std::filesystem::is_regular_file(std::filesystem::path(dir) / "adapter_config.json", ec);
}

// An adapter as loaded for `model`: the library's reading of its config and tensors (module names,
// per-module ranks and scalings after rank_pattern / alpha_pattern), as generate and classify use it.
void print_adapter_info(const krait::Model& model, const std::string& model_dir, const std::string& dir) {
    const Clock::time_point t0 = Clock::now();
    const krait::Adapter adapter = krait::Adapter::load(model, dir);
    const double load_s = seconds_between(t0, Clock::now());
    const krait_adapter_info a = adapter.info();
    const std::vector<krait_adapter_target> targets = adapter.targets();
    const krait_model_info m = model.info();

    std::vector<const krait_adapter_target*> adapted, replaced;
    size_t module_width = std::string("module").size();
    for (const krait_adapter_target& t : targets) {
        (t.replaced ? replaced : adapted).push_back(&t);
        module_width = std::max(module_width, std::string(t.module).size());
    }
    std::printf("adapter          %s\n", dir.c_str());
    std::printf("name             %s\n", a.name);
    std::printf("base model       %s (%s)\n", model_dir.c_str(), m.architecture ? m.architecture : "?");
    std::printf("rank             %d (largest over its modules)\n", a.max_rank);
    std::printf("lora_alpha       %s\n", short_float(a.lora_alpha).c_str());
    std::printf("rslora           %s\n", a.use_rslora ? "yes (scaling = alpha / sqrt(r))" : "no (scaling = alpha / r)");
    std::printf("parameters       %lld\n", static_cast<long long>(a.num_parameters));
    std::printf("loaded in        %.2f ms\n", load_s * 1e3);
    std::printf("targets          %zu adapted, %zu replaced\n", adapted.size(), replaced.size());
    if (!adapted.empty()) {
        std::printf("  %-*s  %-9s  %4s  %s\n", static_cast<int>(module_width), "module", "kind", "rank", "scaling");
        for (const krait_adapter_target* t : adapted)
            std::printf("  %-*s  %-9s  %4d  %s\n", static_cast<int>(module_width), t->module, t->kind, t->rank,
                        short_float(t->scaling).c_str());
    }
    if (!replaced.empty()) {
        std::printf("replaced         (modules_to_save: the adapter's own copy is used while it is active)\n");
        for (const krait_adapter_target* t : replaced)
            std::printf("  %-*s  %s\n", static_cast<int>(module_width), t->module, t->kind);
    }
    if (a.num_labels > 0) {
        std::printf("labels           %lld (its own classifier head)\n", static_cast<long long>(a.num_labels));
        std::printf("                 %s\n", label_summary(adapter.labels()).c_str());
    } else if (m.kind == KRAIT_MODEL_CLASSIFIER) {
        std::printf("labels           the model's (%lld)\n", static_cast<long long>(m.num_labels));
    }
}

}  // namespace

int cmd_info(int argc, char** argv, int first) {
    std::string model_dir;
    std::vector<std::string> dirs;
    bool verbose = false;
    Command cmd{"info", "-m DIR [ADAPTER_DIR...] | DIR",
                "Prints facts about a model (-m DIR, or DIR alone).\n"
                "\n"
                "With ADAPTER_DIRs (PEFT LoRA adapter folders: adapter_config.json +\n"
                "adapter_model.safetensors), prints for each adapter its rank, lora_alpha, rslora,\n"
                "parameters, the modules it adapts (module, kind, rank, scaling), the modules it\n"
                "replaces and the labels of a replacement classifier head. An adapter is read as\n"
                "loaded for its base model, given with -m: that checks every tensor and resolves\n"
                "module names and per-module ranks and scalings (rank_pattern, alpha_pattern)\n"
                "exactly as generate and classify --adapter will use them, so -m is required.",
                {
                    {"-m", "--model", "DIR", "model directory (the base model of any ADAPTER_DIR)", string_setter(model_dir)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                },
                [&dirs](const std::string& s) -> std::string {
                    dirs.push_back(s);
                    return "";
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) {
        if (dirs.empty()) return missing(cmd, "-m DIR");
        for (const std::string& d : dirs)
            if (is_adapter_dir(d)) {
                std::fprintf(stderr,
                             "krait info: '%s' is a LoRA adapter folder: give its base model with -m MODEL_DIR\n"
                             "  (the adapter is read as loaded for that model, which resolves its targets)\n"
                             "usage: krait info %s\n(see 'krait info --help')\n",
                             d.c_str(), cmd.synopsis);
                return kExitUsage;
            }
        if (dirs.size() > 1) {
            std::fprintf(stderr, "krait info: one model DIR at a time, or -m DIR followed by adapter folders\n"
                                 "usage: krait info %s\n(see 'krait info --help')\n", cmd.synopsis);
            return kExitUsage;
        }
        model_dir = dirs[0];
        dirs.clear();
    }
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    const krait::Model model = load_model(model_dir);
    if (!dirs.empty()) {
        for (size_t k = 0; k < dirs.size(); ++k) {
            if (k) std::printf("\n");
            print_adapter_info(model, model_dir, dirs[k]);
        }
        return kExitOk;
    }
    const krait_model_info i = model.info();
    static const char* const kCounts[] = {"", "K", "M", "B"};
    static const char* const kBytes[] = {" B", "KiB", "MiB", "GiB", "TiB"};
    if (i.kind == KRAIT_MODEL_CLASSIFIER) {
        const std::vector<std::string> labels = model.labels();
        const std::string shown = label_summary(labels);
        std::printf("model            %s\n", model_dir.c_str());
        std::printf("architecture     %s\n", i.architecture ? i.architecture : "?");
        std::printf("kind             %s\n", kind_name(i.kind));
        std::printf("input size       %lld x %lld (height x width)\n", static_cast<long long>(i.image_height),
                    static_cast<long long>(i.image_width));
        std::printf("labels           %lld\n", static_cast<long long>(i.num_labels));
        std::printf("                 %s\n", shown.c_str());
        std::printf("parameters       %lld (%s)\n", static_cast<long long>(i.num_parameters),
                    human(static_cast<double>(i.num_parameters), kCounts, 4, 1000.0).c_str());
        std::printf("dtype            %s\n", i.source_dtype ? i.source_dtype : "?");
        std::printf("weight bytes     %lld (%s, held in memory)\n", static_cast<long long>(i.weight_bytes),
                    human(static_cast<double>(i.weight_bytes), kBytes, 5, 1024.0).c_str());
        std::printf("cpu kernels      %s\n", krait_cpu_kernels());
        std::printf("bf16 products    %s (used with --matmul bf16 / KRAIT_MATMUL_BF16)\n", krait_cpu_bf16_products());
        // An ONNX graph: its inputs, outputs, opsets and what the graph passes did, one per line.
        const std::string described = model.describe();
        size_t start = 0;
        while (start < described.size()) {
            size_t end = described.find('\n', start);
            if (end == std::string::npos) end = described.size();
            const std::string line = described.substr(start, end - start);
            const size_t space = line.find(' ');
            const std::string key = line.substr(0, space), rest = space == std::string::npos ? "" : line.substr(space + 1);
            std::printf("%-16s %s\n", key.c_str(), rest.c_str());
            start = end + 1;
        }
        return kExitOk;
    }
    std::string tokenizer_vocab;
    try {
        tokenizer_vocab = std::to_string(model.tokenizer().vocab_size());
    } catch (const krait::Exception& e) {
        if (e.status() != KRAIT_ERR_UNSUPPORTED) throw;
        tokenizer_vocab = "none (no tokenizer.json)";
    }
    auto token = [](int32_t id) { return id < 0 ? std::string("none") : std::to_string(id); };

    std::printf("model            %s\n", model_dir.c_str());
    std::printf("architecture     %s\n", i.architecture ? i.architecture : "?");
    std::printf("kind             %s\n", kind_name(i.kind));
    std::printf("layers           %lld\n", static_cast<long long>(i.num_layers));
    std::printf("hidden           %lld\n", static_cast<long long>(i.hidden_size));
    std::printf("state            %lld\n", static_cast<long long>(i.state_size));
    std::printf("vocab            %lld\n", static_cast<long long>(i.vocab_size));
    std::printf("parameters       %lld (%s)\n", static_cast<long long>(i.num_parameters),
                human(static_cast<double>(i.num_parameters), kCounts, 4, 1000.0).c_str());
    std::printf("dtype            %s\n", i.source_dtype ? i.source_dtype : "?");
    std::printf("weight bytes     %lld (%s, held in memory)\n", static_cast<long long>(i.weight_bytes),
                human(static_cast<double>(i.weight_bytes), kBytes, 5, 1024.0).c_str());
    std::printf("bos / eos        %s / %s\n", token(i.bos_token_id).c_str(), token(i.eos_token_id).c_str());
    std::printf("tokenizer vocab  %s\n", tokenizer_vocab.c_str());
    if (i.kind == KRAIT_MODEL_ASSISTANT) {
        std::printf("image size       %lld x %lld (height x width)\n", static_cast<long long>(i.image_height),
                    static_cast<long long>(i.image_width));
        std::printf("image rows       %lld per image (token %d)\n", static_cast<long long>(i.image_rows),
                    i.image_token_id);
        std::printf("image placement  %s\n", i.image_placement == KRAIT_IMAGES_BEFORE_TEXT
                                                 ? "before the text"
                                                 : "at the image token the chat template writes");
    }
    std::printf("cpu kernels      %s\n", krait_cpu_kernels());
    std::printf("bf16 products    %s (used with --matmul bf16 / KRAIT_MATMUL_BF16)\n", krait_cpu_bf16_products());
    return kExitOk;
}

}  // namespace krait_cli
