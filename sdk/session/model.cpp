#include "sdk/session/model.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>


#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/log.h"
#include "sdk/core/text_file.h"
#include "sdk/image/preprocess.h"

namespace {

// Says once per process which CPU kernels run (kernels/cpu/dispatch.h), and
// warns about a KRAIT_CPU_VARIANT the kernels ignored.
void log_cpu_kernels() {
    static std::once_flag once;
    std::call_once(once, [] {
        const char* cap = std::getenv("KRAIT_CPU_VARIANT");
        if (cap && !krait::kernels::parse_variant(cap))
            krait::log(KRAIT_LOG_WARN, std::string("KRAIT_CPU_VARIANT=") + krait::quote(cap) +
                                           " is not one of portable, avx2, avx512: ignored");
        const char* bf16 = std::getenv("KRAIT_BF16_PRODUCTS");
        if (bf16 && !krait::kernels::parse_bf16_products(bf16))
            krait::log(KRAIT_LOG_WARN, std::string("KRAIT_BF16_PRODUCTS=") + krait::quote(bf16) +
                                           " is not one of none, avx512_bf16, amx: ignored");
        krait::log(KRAIT_LOG_INFO, std::string("CPU kernels: ") + krait::kernels::active().name +
                                       ", BF16 dot products: " +
                                       krait::kernels::bf16_products_name(krait::kernels::bf16_products_in_use()));
    });
}

}  // namespace

krait_model::krait_model(const std::string& model_dir, const krait_model_params& params) : dir(model_dir) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(model_dir) && !fs::is_regular_file(model_dir))
        krait::fail_io(model_dir + ": no such model directory or file");
    if (params.device != KRAIT_DEVICE_CPU)
        krait::fail_unsupported("device " + std::to_string(params.device) + " is not available in this build (CPU only)");
    krait::LoadOptions options;
    if (params.weight_precision != KRAIT_WEIGHTS_STORED && params.weight_precision != KRAIT_WEIGHTS_F32)
        krait::fail_argument("weight_precision " + std::to_string(params.weight_precision) +
                             " is neither KRAIT_WEIGHTS_STORED (0) nor KRAIT_WEIGHTS_F32 (1)");
    if (params.matmul_precision != KRAIT_MATMUL_EXACT && params.matmul_precision != KRAIT_MATMUL_BF16)
        krait::fail_argument("matmul_precision " + std::to_string(params.matmul_precision) +
                             " is neither KRAIT_MATMUL_EXACT (0) nor KRAIT_MATMUL_BF16 (1)");
    options.weights.keep_stored = params.weight_precision == KRAIT_WEIGHTS_STORED;
    options.weights.bf16_products = params.matmul_precision == KRAIT_MATMUL_BF16;
    if (params.progress) {
        options.progress = [&params](float f) { return params.progress(f, params.progress_user_data) == 0; };
    }
    log_cpu_kernels();

    family = &krait::family_for_path(model_dir);  // a directory, or a file a family claims (.onnx)
    kind = family->kind;
    if (params.preprocessor_config && kind != KRAIT_MODEL_CLASSIFIER)
        krait::fail_argument("krait_model_params.preprocessor_config applies to image classifiers; " + model_dir +
                             " is a " + family->name + " model");
    text_dir = model_dir;
    if (family->load_image_encoder && !family->load_classifier)
        krait::fail_unsupported(model_dir + ": a " + family->name +
                                " directory is an image encoder alone, with no session kind: use it as the image "
                                "encoder of a composite assistant (docs/COMPOSITE_ASSISTANTS.md)");
    if (kind == KRAIT_MODEL_CLASSIFIER) {
        classifier = family->load_classifier(model_dir, options);
        preprocess = family->load_preprocess(model_dir, *classifier);
        if (params.preprocessor_config) {  // the caller's settings replace the files'
            const char* origin = "krait_model_params.preprocessor_config";
            nlohmann::json given = krait::parse_json_object(params.preprocessor_config, origin);
            if (!given.contains("size")) {  // no size: the model's own input size, not the image processor's 224
                // Key by key: nlohmann's initializer-list constructor leaks when an insertion throws.
                nlohmann::json& size = given["size"] = nlohmann::json::object();
                size["height"] = classifier->image_height();
                size["width"] = classifier->image_width();
            }
            preprocess = krait::preprocess_config_from_hf_json(given.dump(), origin, classifier->image_height(),
                                                               classifier->image_width());
        }
        krait::validate_preprocess_config(preprocess);
        krait::log(KRAIT_LOG_INFO, "loaded " + model_dir + ": " + classifier->architecture() + " classifier, " +
                                       std::to_string(classifier->num_labels()) + " labels, " +
                                       std::to_string(classifier->num_parameters()) + " parameters (" +
                                       classifier->source_dtype() + ")");
        return;
    }
    if (kind == KRAIT_MODEL_ASSISTANT) {
        assistant = family->load_assistant(model_dir, options);
        lm = assistant->language_model();
        preprocess = assistant->preprocess();
        if (!assistant->text_dir().empty()) text_dir = assistant->text_dir();
    } else {
        lm = family->load_language_model(krait::ModelSource::from_dir(model_dir), options);
    }
    const fs::path tok = fs::path(text_dir) / "tokenizer.json";
    // tokenizer.json plus the added / special tokens of tokenizer_config.json when there is one.
    if (fs::exists(tok)) tokenizer.impl = krait::Tokenizer::from_directory(text_dir);
    const krait::LanguageModelInfo& info = lm->info();
    krait::log(KRAIT_LOG_INFO, "loaded " + model_dir + ": " + info.architecture + ", " +
                                   std::to_string(info.num_parameters) + " parameters (" + info.source_dtype + ")");
}

krait_model::~krait_model() = default;

const krait::chat::ChatTemplate& krait_model::chat_template() const {
    std::call_once(chat_template_once_, [this] {
        try {
            // A composite assistant's own chat_template.jinja, with its language model's special tokens;
            // else the template of the directory that has the tokenizer.
            const std::string own = (std::filesystem::path(dir) / "chat_template.jinja").string();
            if (text_dir != dir && std::filesystem::exists(own))
                chat_template_ = std::make_unique<krait::chat::ChatTemplate>(krait::chat::ChatTemplate::with_source(
                    krait::read_text_file(own, own + ": cannot be read"), text_dir));
            else
                chat_template_ = std::make_unique<krait::chat::ChatTemplate>(krait::chat::ChatTemplate::load(text_dir));
        } catch (...) {
            chat_template_error_ = std::current_exception();
        }
    });
    if (chat_template_error_) std::rethrow_exception(chat_template_error_);
    return *chat_template_;
}

namespace {
const char* kind_name(krait_model_kind kind) {
    switch (kind) {
        case KRAIT_MODEL_SEQUENCE: return "a sequence model";
        case KRAIT_MODEL_CLASSIFIER: return "an image classifier";
        case KRAIT_MODEL_ASSISTANT: return "a vision-language assistant";
        default: return "a model of unknown kind";
    }
}
}  // namespace

void krait_model::require_sequence(const char* call) const {
    if (kind != KRAIT_MODEL_SEQUENCE && kind != KRAIT_MODEL_ASSISTANT)
        krait::fail(KRAIT_ERR_WRONG_KIND, std::string(call) + " needs a sequence model; " + dir + " is " + kind_name(kind) +
                                              " (" + family->name + ")");
}

void krait_model::require_classifier(const char* call) const {
    if (kind != KRAIT_MODEL_CLASSIFIER)
        krait::fail(KRAIT_ERR_WRONG_KIND, std::string(call) + " needs an image classifier; " + dir + " is " +
                                              kind_name(kind) + " (" + family->name + ")");
}

void krait_model::require_assistant(const char* call) const {
    if (kind != KRAIT_MODEL_ASSISTANT)
        krait::fail(KRAIT_ERR_WRONG_KIND, std::string(call) + " needs a vision-language assistant; " + dir + " is " +
                                              kind_name(kind) + " (" + family->name + ")");
}

void krait_model::check_ids(const int32_t* ids, size_t n) const {
    const int64_t vocab = vocab_size();
    for (size_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= vocab)
            krait::fail_argument("token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                 " is out of range [0, " + std::to_string(vocab) + ")");
}
