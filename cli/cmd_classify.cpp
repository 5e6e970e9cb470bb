// krait classify: the top-k labels of images (image classifiers).
#include "cli_common.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

namespace krait_cli {

namespace {

// The library numbers images within one call ("image 3: ..."); the tool calls
// once per batch, so the number is made absolute (1-based, as printed) here.
std::string renumbered(const std::string& message, size_t first) {
    const std::string prefix = "image ";
    if (message.rfind(prefix, 0) != 0) return message;
    size_t index = 0;
    const char* begin = message.data() + prefix.size();
    const char* end = message.data() + message.size();
    const auto [p, ec] = std::from_chars(begin, end, index);
    if (ec != std::errc() || p == end || *p != ':') return message;
    return prefix + std::to_string(first + index + 1) + std::string(p);
}

}  // namespace

int cmd_classify(int argc, char** argv, int first) {
    std::string model_dir;
    std::vector<std::string> images;
    int32_t top_k = 5;
    int32_t threads = 0;
    int64_t max_pixels = KRAIT_DEFAULT_MAX_IMAGE_PIXELS;
    krait_session_params defaults;
    krait_session_params_init(&defaults);
    int32_t batch = defaults.max_batch;
    bool verbose = false;
    std::vector<AdapterArg> adapter_args;
    LoadArgs load_args;
    std::string preprocessor_file;
    Command cmd{"classify", "-m DIR IMAGE... [options]",
                "Prints the most probable labels of each image (PNG, JPEG, BMP, GIF) with their\n"
                "probabilities; throughput goes to stderr. DIR is an image classifier (ViT, MambaVision),\n"
                "or an exported image classifier as an .onnx file (run by Krait's ONNX importer).",
                {
                    {"-m", "--model", "DIR", "model directory (config.json, *.safetensors) or model.onnx", string_setter(model_dir)},
                    {"-k", "--top-k", "K", "labels to print per image (default 5)", int_setter<int32_t>(top_k, 1, std::numeric_limits<int32_t>::max())},
                    {"-b", "--batch", "B", "images per forward pass (default " + std::to_string(batch) + ")", int_setter<int32_t>(batch, 1, 1 << 20)},
                    {nullptr, "--threads", "N", "worker threads, 0 = all cores (default 0)", int_setter<int32_t>(threads, 0, 4096)},
                    {nullptr, "--max-pixels", "N", "refuse images with more pixels (default " + std::to_string(max_pixels) + ")", int_setter<int64_t>(max_pixels, 1, std::numeric_limits<int64_t>::max())},
                    {nullptr, "--adapter", "DIR[=SCALE]", std::string(kAdapterHelp) + "; an adapter's own head brings its labels", adapter_setter(adapter_args)},
                    {nullptr, "--preprocessor-config", "FILE", "how images are prepared, a preprocessor_config.json in Hugging Face's form (replaces the model's; e.g. ImageNet mean/std for a torchvision .onnx)", string_setter(preprocessor_file)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                },
                [&images](const std::string& s) -> std::string {
                    images.push_back(s);
                    return "";
                }};
    insert_options_after(cmd, "--max-pixels", load_options(load_args));
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) return missing(cmd, "-m DIR");
    if (images.empty()) return missing(cmd, "at least one IMAGE");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    if (!preprocessor_file.empty()) {
        std::ifstream in(preprocessor_file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "krait classify: cannot read --preprocessor-config '%s'\n", preprocessor_file.c_str());
            return kExitUsage;
        }
        load_args.preprocessor_config.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const Clock::time_point t_load = Clock::now();
    krait::Model model = load_model(model_dir, load_args);
    const double load_s = seconds_between(t_load, Clock::now());
    krait_session_params params = defaults;
    params.n_threads = threads;
    params.max_image_pixels = max_pixels;
    params.max_batch = batch;
    krait::Session session(model, params);
    std::vector<std::string> adapter_report;
    const std::vector<krait::Adapter> adapters = apply_adapters(model, session, adapter_args, adapter_report);
    AbortableSession abortable(session);

    // One call per batch, so results appear as they are ready and a long list
    // of files needs no more memory than one batch.
    size_t done = 0;
    double compute_s = 0;
    bool aborted = false;
    for (size_t start = 0; start < images.size() && !g_interrupted.load(); start += static_cast<size_t>(batch)) {
        const size_t count = std::min(images.size() - start, static_cast<size_t>(batch));
        const std::vector<std::string> chunk(images.begin() + static_cast<std::ptrdiff_t>(start),
                                             images.begin() + static_cast<std::ptrdiff_t>(start + count));
        krait::Classifications results;
        const Clock::time_point t0 = Clock::now();
        try {
            results = session.classify_files(chunk, top_k);
        } catch (const krait::Exception& e) {
            if (e.status() == KRAIT_ERR_ABORTED) {
                aborted = true;
                break;
            }
            throw krait::Exception(e.status(), renumbered(e.what(), start));
        }
        compute_s += seconds_between(t0, Clock::now());
        for (size_t j = 0; j < count; ++j) {
            std::printf("%s\n", chunk[j].c_str());
            for (const krait::Classification& c : results[j])
                std::printf("  %.4f  %s\n", static_cast<double>(c.probability), c.label.c_str());
        }
        std::fflush(stdout);
        done += count;
    }

    std::fprintf(stderr, "krait: model loaded in %s\n", duration_text(load_s).c_str());
    for (const std::string& line : adapter_report) std::fprintf(stderr, "%s\n", line.c_str());
    if (done > 0)
        std::fprintf(stderr, "krait: classified %zu image%s in %s (%.1f images/s, decoding included)\n", done,
                     done == 1 ? "" : "s", duration_text(compute_s).c_str(),
                     compute_s > 0 ? static_cast<double>(done) / compute_s : 0.0);
    if (aborted || g_interrupted.load()) {
        std::fprintf(stderr, "krait: interrupted\n");
        return kExitInterrupted;
    }
    if (std::ferror(stdout)) {
        std::fprintf(stderr, "krait: error: writing the results to stdout failed\n");
        return kExitError;
    }
    return kExitOk;
}

}  // namespace krait_cli
