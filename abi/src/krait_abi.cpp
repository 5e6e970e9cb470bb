// The C entry points: argument checks, then a call into sdk/, with every
// exception turned into a status code and a per-thread message. Nothing here
// computes; each function is a guard around one C++ method.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <new>
#include <memory>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/log.h"
#include "sdk/image/image.h"
#include "sdk/session/model.h"
#include "sdk/session/conversation.h"
#include "sdk/session/session.h"
#include "sdk/core/utf8.h"
#include "sdk/core/limits.h"

namespace {

thread_local std::string g_last_error;

// Every message is made valid UTF-8 here too (krait::Error already is), so messages built in
// this file from a caller's path or from a foreign exception keep krait.h's promise.
krait_status set_error(krait_status status, const std::string& message) noexcept {
    try {
        g_last_error = krait::printable_utf8(message);
    } catch (...) {  // out of memory while copying the message: an empty message beats none
        g_last_error.clear();
    }
    return status;
}

// Runs `body` (which returns nothing and throws on failure): the one place
// where exceptions stop.
template <class Body>
krait_status guarded(Body&& body) noexcept {
    try {
        g_last_error.clear();
        body();
        return KRAIT_OK;
    } catch (const krait::Error& e) {
        return set_error(e.status(), e.what());
    } catch (const std::bad_alloc&) {
        return set_error(KRAIT_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return set_error(KRAIT_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return set_error(KRAIT_ERR_INTERNAL, "internal error: unknown exception");
    }
}

// guarded() for a call on `session` (or a conversation over it): holds the session's Claim for the
// whole call, so an overlapping call gets KRAIT_ERR_BUSY instead of racing on its state.
template <class Body>
krait_status claimed(const krait_session* session, const char* call, Body&& body) noexcept {
    return guarded([&] {
        const krait_session::Claim claim(*session, call);
        body();
    });
}

#define KRAIT_REQUIRE(ptr)                                                                   \
    do {                                                                                     \
        if (!(ptr)) return set_error(KRAIT_ERR_INVALID_ARGUMENT, #ptr " must not be NULL"); \
    } while (0)

// Copies the leading `struct_size` bytes of a caller's params struct over
// defaults, so callers built against an older (smaller) struct still work.
template <class T>
T read_params(const T* given, void (*init)(T*)) {
    T params;
    init(&params);
    if (given) {
        const size_t n = given->struct_size < sizeof(T) ? given->struct_size : sizeof(T);
        std::memcpy(&params, given, n);
        params.struct_size = sizeof(T);
    }
    return params;
}

// krait_*_params_init_sized (krait.h, ABI RULES): a whole T of defaults made by `fill`, of which only the
// caller's first `size` bytes are written, struct_size saying how many.
template <class T>
void init_sized(T* params, size_t size, void (*fill)(T*)) {
    if (!params) return;
    T full;
    fill(&full);
    const size_t n = size < sizeof(T) ? size : sizeof(T);
    full.struct_size = static_cast<uint32_t>(n);
    std::memcpy(params, &full, n);
}

// What the exported unsized init functions write, frozen at the 1.8 layouts: up to 1.8 they wrote the
// library's sizeof, and programs built against header 1.8 have structs this large. Later fields are
// only written by the _sized functions (the header's macros), so these constants never change.
constexpr size_t kModelParamsSize_1_8 = offsetof(krait_model_params, preprocessor_config) + sizeof(const char*);
constexpr size_t kSessionParamsSize_1_8 = offsetof(krait_session_params, image_cache_bytes) + sizeof(int64_t);
constexpr size_t kGenerateParamsSize_1_8 = offsetof(krait_generate_params, user_data) + sizeof(void*);
constexpr size_t kAdapterParamsSize_1_8 = offsetof(krait_adapter_params, name) + sizeof(const char*);

// Info structs the library fills (krait.h, ABI RULES): the smallest struct_size accepted is the
// struct's size in the version that introduced it (any 1.x caller passes at least that), and only
// the fields after struct_size that fit in the caller's struct are written.
constexpr uint32_t kModelInfoSize_1_0 = offsetof(krait_model_info, source_dtype) + sizeof(const char*);
constexpr uint32_t kAdapterInfoSize_1_2 = offsetof(krait_adapter_info, num_labels) + sizeof(int64_t);
constexpr uint32_t kAdapterTargetSize_1_2 = offsetof(krait_adapter_target, replaced) + sizeof(int32_t);
constexpr uint32_t kConversationStatsSize_1_4 =
    offsetof(krait_conversation_stats, generated_tokens) + sizeof(int64_t);

// INVALID_ARGUMENT unless `size` (a caller's struct_size) is at least `minimum`.
void check_info_size(uint32_t size, uint32_t minimum, const char* field, const char* type) {
    if (size < minimum)
        krait::fail_argument(std::string(field) + " is " + std::to_string(size) + ": set it to sizeof(" + type +
                             ") (at least " + std::to_string(minimum) + ")");
}

// Copies `full` into the caller's struct `out`: the bytes after struct_size up to out->struct_size
// (at most sizeof(T)); struct_size itself is never written.
template <class T>
void write_info(T* out, const T& full) {
    constexpr size_t skip = offsetof(T, struct_size) + sizeof(uint32_t);
    const size_t n = std::min<size_t>(out->struct_size, sizeof(T));
    std::memcpy(reinterpret_cast<unsigned char*>(out) + skip, reinterpret_cast<const unsigned char*>(&full) + skip,
                n - skip);
}

void require_sequence(const krait_session* s, const char* call) { s->model.require_sequence(call); }
void require_classifier(const krait_session* s, const char* call) { s->model.require_classifier(call); }

// a * b * ..., or INVALID_ARGUMENT naming `what` if the product does not fit in size_t.
size_t checked_product(std::initializer_list<int64_t> factors, const char* what) {
    size_t product = 1;
    for (const int64_t f : factors)
        if (f < 0 || __builtin_mul_overflow(product, static_cast<size_t>(f), &product))
            krait::fail_argument(std::string(what) + " is too large");
    return product;
}

// The output protocol shared by the calls that fill a caller's buffer of
// `needed` elements: a size query (NULL buffer, capacity 0) sets *n_out and
// returns false; a buffer too small sets *n_out and throws BUFFER_TOO_SMALL;
// otherwise returns true (the caller computes, then sets *n_out).
bool output_fits(const void* buffer, size_t capacity, size_t needed, size_t* n_out, const char* what,
                 const char* unit) {
    if (!buffer && capacity == 0) {
        *n_out = needed;
        return false;
    }
    if (capacity < needed) {
        *n_out = needed;
        krait::fail(KRAIT_ERR_BUFFER_TOO_SMALL, std::string(what) + " buffer holds " + std::to_string(capacity) + " " +
                                                    unit + ", " + std::to_string(needed) + " needed");
    }
    return true;
}

// The common part of krait_session_classify_*: argument checks, the buffer
// protocol, then the session's classify() with one way to produce each image.
// `check_inputs` validates the per-image arguments before anything is decoded.
template <class CheckInputs>
krait_status classify_call(krait_session* session, size_t n, int32_t top_k, krait_classification* out,
                           size_t capacity, size_t* n_out, const char* call, CheckInputs&& check_inputs,
                           const krait_session::ImageSource& source) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(n_out);
    if (n == 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, std::string(call) + ": n must be > 0");
    if (!out && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "out is NULL but capacity > 0");
    return claimed(session, call, [&] {
        require_classifier(session, call);
        const size_t k = session->classes_per_image(top_k);
        const size_t needed = checked_product({static_cast<int64_t>(n), static_cast<int64_t>(k)}, "n * top_k");
        if (!output_fits(out, capacity, needed, n_out, "out", "classifications")) return;
        check_inputs();
        session->classify(n, top_k, source, out);
        *n_out = needed;
    });
}

void require_tokenizer(const krait_tokenizer* t) {
    if (!t->impl) krait::fail_argument("tokenizer handle is empty");
}

// Copies `value` to a caller-owned buffer (krait.h, "Caller-owned buffers").
krait_status write_text(const std::string& value, char* text, size_t capacity, size_t* n_out) {
    *n_out = value.size();
    if (!text && capacity == 0) return KRAIT_OK;  // a size query
    if (value.size() > capacity)
        return set_error(KRAIT_ERR_BUFFER_TOO_SMALL, "text buffer holds " + std::to_string(capacity) + " bytes, " +
                                                         std::to_string(value.size()) + " needed");
    std::memcpy(text, value.data(), value.size());
    return KRAIT_OK;
}

}  // namespace

extern "C" {

uint32_t krait_version(void) { return KRAIT_VERSION_NUMBER; }

const char* krait_version_string(void) {
#define KRAIT_STR2(x) #x
#define KRAIT_STR(x) KRAIT_STR2(x)
    return KRAIT_STR(KRAIT_VERSION_MAJOR) "." KRAIT_STR(KRAIT_VERSION_MINOR) "." KRAIT_STR(KRAIT_VERSION_PATCH);
}

const char* krait_cpu_kernels(void) { return krait::kernels::active().name; }

const char* krait_cpu_bf16_products(void) {
    return krait::kernels::bf16_products_name(krait::kernels::bf16_products_in_use());
}

const char* krait_last_error(void) { return g_last_error.c_str(); }

const char* krait_status_string(krait_status status) {
    switch (status) {
        case KRAIT_OK: return "ok";
        case KRAIT_ERR_INVALID_ARGUMENT: return "invalid argument";
        case KRAIT_ERR_IO: return "i/o error";
        case KRAIT_ERR_FORMAT: return "malformed input";
        case KRAIT_ERR_UNSUPPORTED: return "unsupported";
        case KRAIT_ERR_OUT_OF_MEMORY: return "out of memory";
        case KRAIT_ERR_BUFFER_TOO_SMALL: return "buffer too small";
        case KRAIT_ERR_CANCELLED: return "cancelled";
        case KRAIT_ERR_ABORTED: return "aborted";
        case KRAIT_ERR_WRONG_KIND: return "wrong model kind";
        case KRAIT_ERR_INTERNAL: return "internal error";
        case KRAIT_ERR_BUSY: return "session busy";
        default: return "unknown status";
    }
}

void krait_set_log_callback(krait_log_fn callback, void* user_data, krait_log_level min_level) {
    krait::set_log_callback(callback, user_data, min_level);
}

/* ---- models ------------------------------------------------------------- */

// The defaults of a whole krait_model_params (what read_params starts from).
static void fill_model_params(krait_model_params* params) {
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->device = KRAIT_DEVICE_CPU;
}

void(krait_model_params_init)(krait_model_params* params) {
    init_sized(params, kModelParamsSize_1_8, fill_model_params);
}

void krait_model_params_init_sized(krait_model_params* params, size_t size) {
    init_sized(params, size, fill_model_params);
}

krait_status krait_model_load(const char* path, const krait_model_params* params, krait_model** out_model) {
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out_model);
    return guarded([&] {
        const krait_model_params p = read_params(params, fill_model_params);
        *out_model = new krait_model(path, p);
    });
}

void krait_model_free(krait_model* model) { delete model; }

krait_status krait_model_get_info(const krait_model* model, krait_model_info* info) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(info);
    return guarded([&] {
        check_info_size(info->struct_size, kModelInfoSize_1_0, "info->struct_size", "krait_model_info");
        krait_model_info full{};
        full.struct_size = sizeof full;
        full.kind = model->kind;
        full.image_token_id = -1;  // assistants set it below
        if (model->kind == KRAIT_MODEL_CLASSIFIER) {
            const krait::ClassifierModel& c = *model->classifier;
            full.architecture = c.architecture();
            full.num_parameters = c.num_parameters();
            full.bos_token_id = -1;
            full.eos_token_id = -1;
            full.source_dtype = c.source_dtype().c_str();
            full.weight_bytes = c.weight_bytes();
            full.num_labels = c.num_labels();
            full.image_height = c.image_height();
            full.image_width = c.image_width();
        } else {
            const krait::LanguageModelInfo& c = model->lm->info();
            full.architecture = c.architecture;
            full.vocab_size = c.vocab_size;
            full.hidden_size = c.hidden_size;
            full.num_layers = c.num_layers;
            full.state_size = c.state_size;
            full.num_parameters = c.num_parameters;
            full.bos_token_id = c.bos_token_id;
            full.eos_token_id = c.eos_token_id;
            full.source_dtype = c.source_dtype.c_str();
            full.weight_bytes = c.weight_bytes;
            if (const krait::AssistantModel* a = model->assistant.get()) {
                full.architecture = a->architecture();
                full.num_parameters += a->num_parameters();
                full.weight_bytes += a->weight_bytes();
                full.image_height = a->image_height();
                full.image_width = a->image_width();
                full.image_token_id = a->image_token_id();
                full.image_rows = a->image_rows();
                full.image_placement = a->image_placement() == krait::ImagePlacement::BeforeText
                                           ? KRAIT_IMAGES_BEFORE_TEXT
                                           : KRAIT_IMAGES_AT_MARKER;
            }
        }
        write_info(info, full);
    });
}

/* ---- tokenizers ----------------------------------------------------------- */

krait_status krait_tokenizer_load(const char* path, krait_tokenizer** out_tokenizer) {
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out_tokenizer);
    return guarded([&] {
        auto t = std::make_unique<krait_tokenizer>();
        std::error_code ec;
        t->impl = std::filesystem::is_directory(path, ec) ? krait::Tokenizer::from_directory(path)
                                                          : krait::Tokenizer::from_file(path);
        *out_tokenizer = t.release();
    });
}

void krait_tokenizer_free(krait_tokenizer* tokenizer) { delete tokenizer; }

krait_status krait_model_get_tokenizer(const krait_model* model, const krait_tokenizer** out_tokenizer) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(out_tokenizer);
    if (!model->tokenizer.impl)
        return set_error(KRAIT_ERR_UNSUPPORTED, model->text_dir + ": the model has no tokenizer.json");
    *out_tokenizer = &model->tokenizer;
    return KRAIT_OK;
}

krait_status krait_tokenizer_encode(const krait_tokenizer* tokenizer, const char* text, size_t text_len,
                                    int add_special_tokens, int32_t* ids, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(tokenizer);
    KRAIT_REQUIRE(n_out);
    if (!text && text_len > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but text_len > 0");
    if (!ids && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "ids is NULL but capacity > 0");
    krait_status status = KRAIT_OK;
    krait_status guard = guarded([&] {
        require_tokenizer(tokenizer);
        const auto encoded =
            tokenizer->impl->encode(std::string_view(text ? text : "", text_len), add_special_tokens != 0);
        if (encoded.size() > capacity && !(ids == nullptr && capacity == 0)) {
            status = KRAIT_ERR_BUFFER_TOO_SMALL;
        } else if (ids) {
            std::copy(encoded.begin(), encoded.end(), ids);
        }
        *n_out = encoded.size();
    });
    if (guard != KRAIT_OK) return guard;
    if (status != KRAIT_OK)
        return set_error(status, "ids buffer holds " + std::to_string(capacity) + " ids, " + std::to_string(*n_out) + " needed");
    return KRAIT_OK;
}

krait_status krait_tokenizer_decode(const krait_tokenizer* tokenizer, const int32_t* ids, size_t n_ids, char* text,
                                    size_t capacity, size_t* n_out) {
    return krait_tokenizer_decode_v2(tokenizer, ids, n_ids, /*skip_special_tokens=*/0, text, capacity, n_out);
}

krait_status krait_tokenizer_decode_v2(const krait_tokenizer* tokenizer, const int32_t* ids, size_t n_ids,
                                       int skip_special_tokens, char* text, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(tokenizer);
    KRAIT_REQUIRE(n_out);
    if (!ids && n_ids > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "ids is NULL but n_ids > 0");
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    std::string decoded;
    const krait_status guard = guarded([&] {
        require_tokenizer(tokenizer);
        decoded = tokenizer->impl->decode(std::span<const int32_t>(ids, n_ids), skip_special_tokens != 0);
    });
    if (guard != KRAIT_OK) return guard;
    return write_text(decoded, text, capacity, n_out);
}

krait_status krait_model_describe(const krait_model* model, char* text, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(n_out);
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    std::string described;
    const krait_status guard = guarded([&] {
        if (model->classifier) described = model->classifier->describe();
    });
    if (guard != KRAIT_OK) return guard;
    return write_text(described, text, capacity, n_out);
}

krait_status krait_model_apply_chat_template(const krait_model* model, const char* messages_json,
                                             int add_generation_prompt, const char* extra_json,
                                             const char* template_src, char* text, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(messages_json);
    KRAIT_REQUIRE(n_out);
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    std::string rendered;
    const krait_status guard = guarded([&] {
        using krait::chat::OrderedJson;
        const auto parse = [](const char* json, const char* what) {
            try {
                krait::check_json_depth(json, what, KRAIT_ERR_INVALID_ARGUMENT);
                return OrderedJson::parse(json);
            } catch (const OrderedJson::exception& e) {  // parse_error, out_of_range (1e309)
                krait::fail_argument(std::string(what) + " is not valid JSON: " + e.what());
            }
        };
        const OrderedJson messages = parse(messages_json, "messages_json");
        const OrderedJson extra = extra_json ? parse(extra_json, "extra_json") : OrderedJson::object();
        if (!extra.is_object()) krait::fail_argument("extra_json must be a JSON object");
        if (template_src) {
            rendered = krait::chat::ChatTemplate::with_source(template_src, model->text_dir)
                           .render(messages, add_generation_prompt != 0, extra);
        } else {
            rendered = model->chat_template().render(messages, add_generation_prompt != 0, extra);
        }
    });
    if (guard != KRAIT_OK) return guard;
    return write_text(rendered, text, capacity, n_out);
}

krait_status krait_tokenizer_vocab_size(const krait_tokenizer* tokenizer, int64_t* out_size) {
    KRAIT_REQUIRE(tokenizer);
    KRAIT_REQUIRE(out_size);
    return guarded([&] {
        require_tokenizer(tokenizer);
        *out_size = tokenizer->impl->vocab_size();
    });
}

/* ---- sessions ------------------------------------------------------------- */

static void fill_session_params(krait_session_params* params) {
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->n_threads = 0;
    params->max_image_pixels = KRAIT_DEFAULT_MAX_IMAGE_PIXELS;
    params->max_batch = 32;
    params->context_length = 0;
    params->image_cache_bytes = KRAIT_DEFAULT_IMAGE_CACHE_BYTES;
}

void(krait_session_params_init)(krait_session_params* params) {
    init_sized(params, kSessionParamsSize_1_8, fill_session_params);
}

void krait_session_params_init_sized(krait_session_params* params, size_t size) {
    init_sized(params, size, fill_session_params);
}

krait_status krait_session_create(krait_model* model, const krait_session_params* params, krait_session** out_session) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(out_session);
    return guarded([&] {
        const krait_session_params p = read_params(params, fill_session_params);
        *out_session = new krait_session(*model, p);
    });
}

void krait_session_free(krait_session* session) { delete session; }

krait_status krait_session_set_threads(krait_session* session, int32_t n_threads) {
    KRAIT_REQUIRE(session);
    return claimed(session, "krait_session_set_threads", [&] { session->set_threads(n_threads); });
}

void krait_session_abort(krait_session* session) {
    if (session) session->abort();
}

void krait_session_clear_abort(krait_session* session) {
    if (session) session->clear_abort();
}

krait_status krait_session_forward(krait_session* session, const int32_t* ids, int64_t batch, int64_t length,
                                   float* logits, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(ids);
    KRAIT_REQUIRE(n_out);
    if (batch <= 0 || length <= 0)
        return set_error(KRAIT_ERR_INVALID_ARGUMENT, "batch and length must be > 0, got batch " + std::to_string(batch) +
                                                         ", length " + std::to_string(length));
    if (!logits && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "logits is NULL but capacity > 0");
    return claimed(session, "krait_session_forward", [&] {
        require_sequence(session, "krait_session_forward");
        const size_t needed = static_cast<size_t>(batch) * static_cast<size_t>(length) *
                              static_cast<size_t>(session->model.vocab_size());
        if (!output_fits(logits, capacity, needed, n_out, "logits", "floats")) return;
        session->model.check_ids(ids, static_cast<size_t>(batch * length));
        session->forward(ids, batch, length, logits);
        *n_out = needed;
    });
}

krait_status krait_session_reset(krait_session* session) {
    KRAIT_REQUIRE(session);
    return claimed(session, "krait_session_reset", [&] {
        require_sequence(session, "krait_session_reset");
        session->reset();
    });
}

krait_status krait_session_append(krait_session* session, const int32_t* ids, size_t n_ids, float* logits,
                                  size_t capacity) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(ids);
    if (n_ids == 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "n_ids must be > 0");
    return claimed(session, "krait_session_append", [&] {
        require_sequence(session, "krait_session_append");
        const size_t vocab = static_cast<size_t>(session->model.vocab_size());
        if (logits && capacity < vocab)
            krait::fail(KRAIT_ERR_BUFFER_TOO_SMALL,
                        "logits buffer holds " + std::to_string(capacity) + " floats, " + std::to_string(vocab) + " needed");
        session->model.check_ids(ids, n_ids);
        session->append(ids, n_ids, logits);
    });
}

void krait_sampling_params_init(krait_sampling_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->temperature = 1.0f;
    params->top_k = 50;
    params->top_p = 1.0f;
    params->min_p = 0.0f;
    params->repetition_penalty = 1.0f;
    params->seed = 0;
}

static void fill_generate_params(krait_generate_params* params) {
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->max_new_tokens = 32;
    krait_sampling_params_init(&params->sampling);
    params->stop_at_eos = 1;
}

void(krait_generate_params_init)(krait_generate_params* params) {
    init_sized(params, kGenerateParamsSize_1_8, fill_generate_params);
}

void krait_generate_params_init_sized(krait_generate_params* params, size_t size) {
    init_sized(params, size, fill_generate_params);
}

krait_status krait_session_generate(krait_session* session, const int32_t* prompt_ids, size_t n_prompt,
                                    const krait_generate_params* params, int32_t* out_ids, size_t capacity,
                                    size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(n_out);
    if (!prompt_ids && n_prompt > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "prompt_ids is NULL but n_prompt > 0");
    if (!out_ids && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "out_ids is NULL but capacity > 0");
    return claimed(session, "krait_session_generate", [&] {
        require_sequence(session, "krait_session_generate");
        const krait_generate_params p = read_params(params, fill_generate_params);
        if (n_prompt) session->model.check_ids(prompt_ids, n_prompt);
        *n_out = session->generate(prompt_ids, n_prompt, p, out_ids, capacity);
    });
}

/* ---- session state (since 1.4) ------------------------------------------------ */

krait_status krait_session_snapshot(krait_session* session, krait_state** out_state) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(out_state);
    return claimed(session, "krait_session_snapshot", [&] {
        require_sequence(session, "krait_session_snapshot");
        *out_state = session->snapshot().release();
    });
}

void krait_state_free(krait_state* state) { delete state; }

krait_status krait_state_get_n_tokens(const krait_state* state, int64_t* out_n_tokens) {
    KRAIT_REQUIRE(state);
    KRAIT_REQUIRE(out_n_tokens);
    *out_n_tokens = static_cast<int64_t>(state->context.size());
    return KRAIT_OK;
}

krait_status krait_session_restore(krait_session* session, const krait_state* state) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(state);
    return claimed(session, "krait_session_restore", [&] {
        require_sequence(session, "krait_session_restore");
        session->restore(*state);
    });
}

krait_status krait_session_get_tokens(const krait_session* session, int32_t* ids, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(n_out);
    if (!ids && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "ids is NULL but capacity > 0");
    return claimed(session, "krait_session_get_tokens", [&] {
        require_sequence(session, "krait_session_get_tokens");
        const std::vector<int32_t>& tokens = session->tokens();
        if (!output_fits(ids, capacity, tokens.size(), n_out, "ids", "ids")) return;
        std::copy(tokens.begin(), tokens.end(), ids);
        *n_out = tokens.size();
    });
}

krait_status krait_session_truncate(krait_session* session, int64_t n_tokens) {
    KRAIT_REQUIRE(session);
    return claimed(session, "krait_session_truncate", [&] {
        require_sequence(session, "krait_session_truncate");
        session->truncate(n_tokens);
    });
}

krait_status krait_session_save_state(krait_session* session, const char* path) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(path);
    return claimed(session, "krait_session_save_state", [&] {
        require_sequence(session, "krait_session_save_state");
        session->save_state(path);
    });
}

krait_status krait_session_load_state(krait_session* session, const char* path) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(path);
    return claimed(session, "krait_session_load_state", [&] {
        require_sequence(session, "krait_session_load_state");
        session->load_state(path);
    });
}

/* ---- conversations (since 1.4) ------------------------------------------------ */

krait_status krait_conversation_create(krait_session* session, const char* system_prompt, const char* template_src,
                                       const char* extra_json, krait_conversation** out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(out);
    return claimed(session, "krait_conversation_create", [&] {
        *out = new krait_conversation(*session, system_prompt, template_src, extra_json);
    });
}

void krait_conversation_free(krait_conversation* conversation) { delete conversation; }

krait_status krait_conversation_add_message(krait_conversation* conversation, const char* role, const char* content) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(role);
    KRAIT_REQUIRE(content);
    return claimed(&conversation->session, "krait_conversation_add_message", [&] {
        conversation->add_message(role, content);
    });
}

krait_status krait_conversation_reply(krait_conversation* conversation, const krait_generate_params* params) {
    KRAIT_REQUIRE(conversation);
    return claimed(&conversation->session, "krait_conversation_reply", [&] {
        conversation->reply(read_params(params, fill_generate_params));
    });
}

krait_status krait_conversation_say(krait_conversation* conversation, const char* user_text,
                                    const krait_generate_params* params) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(user_text);
    return claimed(&conversation->session, "krait_conversation_say", [&] {
        conversation->say(user_text, read_params(params, fill_generate_params));
    });
}

krait_status krait_conversation_add_message_images(krait_conversation* conversation, const char* role,
                                                   const char* content, const float* pixels, int64_t n_images,
                                                   int64_t height, int64_t width) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(role);
    KRAIT_REQUIRE(content);
    return claimed(&conversation->session, "krait_conversation_add_message_images", [&] {
        conversation->add_message_with_images(role, content, pixels, n_images, height, width);
    });
}

krait_status krait_conversation_render(const krait_conversation* conversation, int add_generation_prompt, char* text,
                                       size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(n_out);
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    std::string rendered;
    const krait_status guard = claimed(&conversation->session, "krait_conversation_render",
                                       [&] { rendered = conversation->render(add_generation_prompt != 0); });
    if (guard != KRAIT_OK) return guard;
    return write_text(rendered, text, capacity, n_out);
}

krait_status krait_conversation_say_images(krait_conversation* conversation, const char* user_text, const float* pixels,
                                           int64_t n_images, int64_t height, int64_t width,
                                           const krait_generate_params* params) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(user_text);
    return claimed(&conversation->session, "krait_conversation_say_images", [&] {
        conversation->say_with_images(user_text, pixels, n_images, height, width,
                                      read_params(params, fill_generate_params));
    });
}

krait_status krait_conversation_regenerate(krait_conversation* conversation, const krait_generate_params* params) {
    KRAIT_REQUIRE(conversation);
    return claimed(&conversation->session, "krait_conversation_regenerate", [&] {
        conversation->regenerate(read_params(params, fill_generate_params));
    });
}

krait_status krait_conversation_undo(krait_conversation* conversation) {
    KRAIT_REQUIRE(conversation);
    return claimed(&conversation->session, "krait_conversation_undo", [&] { conversation->undo(); });
}

krait_status krait_conversation_edit(krait_conversation* conversation, size_t index, const char* content) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(content);
    return claimed(&conversation->session, "krait_conversation_edit", [&] { conversation->edit(index, content); });
}

krait_status krait_conversation_get_n_messages(const krait_conversation* conversation, size_t* out_n) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(out_n);
    return claimed(&conversation->session, "krait_conversation_get_n_messages",
                   [&] { *out_n = conversation->messages().size(); });
}

krait_status krait_conversation_get_message(const krait_conversation* conversation, size_t index, const char** role,
                                            const char** content) {
    KRAIT_REQUIRE(conversation);
    return claimed(&conversation->session, "krait_conversation_get_message", [&] {
        const auto& messages = conversation->messages();
        if (index >= messages.size())
            krait::fail_argument("message " + std::to_string(index) + " does not exist (the conversation has " +
                                 std::to_string(messages.size()) + ")");
        if (role) *role = messages[index].role.c_str();
        if (content) *content = messages[index].content.c_str();
    });
}

krait_status krait_conversation_get_stats(const krait_conversation* conversation, krait_conversation_stats* stats) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(stats);
    return claimed(&conversation->session, "krait_conversation_get_stats", [&] {
        check_info_size(stats->struct_size, kConversationStatsSize_1_4, "stats->struct_size", "krait_conversation_stats");
        const krait_conversation::Stats& s = conversation->stats();
        krait_conversation_stats full{};
        full.prompt_tokens = s.prompt_tokens;
        full.reused_tokens = s.reused_tokens;
        full.prefilled_tokens = s.prefilled_tokens;
        full.generated_tokens = s.generated_tokens;
        full.images_encoded = s.images_encoded;
        full.images_cached = s.images_cached;
        write_info(stats, full);
    });
}

krait_status krait_conversation_save(const krait_conversation* conversation, const char* path) {
    KRAIT_REQUIRE(conversation);
    KRAIT_REQUIRE(path);
    return claimed(&conversation->session, "krait_conversation_save", [&] { conversation->save(path); });
}

krait_status krait_conversation_load(krait_session* session, const char* path, const char* template_src,
                                     const char* extra_json, krait_conversation** out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out);
    return claimed(session, "krait_conversation_load", [&] {
        *out = krait_conversation::load(*session, path, template_src, extra_json).release();
    });
}

krait_status krait_session_chat(krait_session* session, const char* messages_json,
                                const krait_generate_params* params, char* text, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(messages_json);
    KRAIT_REQUIRE(n_out);
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    return claimed(session, "krait_session_chat", [&] {
        const std::string reply =
            krait_conversation::chat(*session, messages_json, read_params(params, fill_generate_params));
        if (text) std::memcpy(text, reply.data(), std::min(capacity, reply.size()));
        *n_out = reply.size();
    });
}

/* ---- classifiers ------------------------------------------------------------ */

krait_status krait_model_get_label(const krait_model* model, int32_t id, const char** out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(out);
    return guarded([&] {
        model->require_classifier("krait_model_get_label");
        const auto& labels = model->classifier->labels();
        if (id < 0 || static_cast<size_t>(id) >= labels.size())
            krait::fail_argument("label id " + std::to_string(id) + " is out of range [0, " +
                                 std::to_string(labels.size()) + ")");
        *out = labels[static_cast<size_t>(id)].c_str();
    });
}

krait_status krait_session_classify_files(krait_session* session, const char* const* paths, size_t n, int32_t top_k,
                                          krait_classification* out, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(paths);
    return classify_call(
        session, n, top_k, out, capacity, n_out, "krait_session_classify_files",
        [&] {
            for (size_t i = 0; i < n; ++i)
                if (!paths[i]) krait::fail_argument("paths[" + std::to_string(i) + "] is NULL");
        },
        [paths](size_t i, int64_t max_pixels) { return krait::load_image_file(paths[i], max_pixels); });
}

krait_status krait_session_classify_encoded(krait_session* session, const void* const* data, const size_t* sizes,
                                            size_t n, int32_t top_k, krait_classification* out, size_t capacity,
                                            size_t* n_out) {
    KRAIT_REQUIRE(data);
    KRAIT_REQUIRE(sizes);
    return classify_call(
        session, n, top_k, out, capacity, n_out, "krait_session_classify_encoded",
        [&] {
            for (size_t i = 0; i < n; ++i) {
                if (!data[i]) krait::fail_argument("data[" + std::to_string(i) + "] is NULL");
                if (sizes[i] == 0) krait::fail_argument("image " + std::to_string(i) + ": sizes[" + std::to_string(i) + "] is 0 (no bytes)");
            }
        },
        [data, sizes](size_t i, int64_t max_pixels) {
            return krait::decode_image(static_cast<const uint8_t*>(data[i]), sizes[i], max_pixels,
                                       "encoded image (" + std::to_string(sizes[i]) + " bytes)");
        });
}

namespace {

// The fields of a krait_image (struct_size checked by the caller): INVALID_ARGUMENT naming the field.
void check_image_fields(const krait_image& im, const std::string& name, int64_t max_pixels) {
    if (!im.pixels) krait::fail_argument(name + "pixels is NULL");
    if (im.width <= 0 || im.height <= 0)
        krait::fail_argument(name + "width and height must be > 0, got " + std::to_string(im.width) + " x " +
                             std::to_string(im.height));
    if (im.channels != 1 && im.channels != 3 && im.channels != 4)
        krait::fail_argument(name + "channels must be 1, 3 or 4, got " + std::to_string(im.channels));
    const int64_t row_bytes = static_cast<int64_t>(im.width) * im.channels;
    if (im.row_stride != 0 && im.row_stride < row_bytes)
        krait::fail_argument(name + "row_stride " + std::to_string(im.row_stride) + " is less than width * channels = " +
                             std::to_string(row_bytes));
    const int64_t pixels = static_cast<int64_t>(im.width) * im.height;
    if (pixels > max_pixels)
        krait::fail_argument(name + std::to_string(im.width) + " x " + std::to_string(im.height) + " = " +
                             std::to_string(pixels) + " pixels is more than max_image_pixels (" +
                             std::to_string(max_pixels) + ")");
}

krait::Image image_of(const krait_image& im, int64_t max_pixels) {
    const int64_t stride_bytes = im.row_stride != 0 ? im.row_stride : static_cast<int64_t>(im.width) * im.channels;
    return krait::image_from_pixels(im.pixels, im.width, im.height, stride_bytes, im.channels, max_pixels);
}

}  // namespace

krait_status krait_session_classify_pixels(krait_session* session, const krait_image* images, size_t n, int32_t top_k,
                                           krait_classification* out, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(images);
    // Elements are struct_size bytes apart, so that a caller built against a
    // later header (a larger krait_image) is still indexed correctly.
    const uint32_t stride = images->struct_size;
    auto at = [images, stride](size_t i) {
        return reinterpret_cast<const krait_image*>(reinterpret_cast<const unsigned char*>(images) + i * stride);
    };
    constexpr size_t kMinSize = offsetof(krait_image, channels) + sizeof(int32_t);
    return classify_call(
        session, n, top_k, out, capacity, n_out, "krait_session_classify_pixels",
        [&] {
            if (stride < kMinSize)
                krait::fail_argument("images[0].struct_size is " + std::to_string(stride) +
                                     ": set it to sizeof(krait_image)");
            for (size_t i = 0; i < n; ++i) {
                const krait_image& im = *at(i);
                const std::string name = "image " + std::to_string(i) + ": ";
                if (im.struct_size != stride)
                    krait::fail_argument(name + "struct_size " + std::to_string(im.struct_size) + " differs from images[0]'s " +
                                         std::to_string(stride));
                check_image_fields(im, name, session->max_image_pixels());
            }
        },
        [at](size_t i, int64_t max_pixels) { return image_of(*at(i), max_pixels); });
}

krait_status krait_session_classifier_forward(krait_session* session, const float* pixels, int64_t batch,
                                              int64_t height, int64_t width, float* logits, size_t capacity,
                                              size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(pixels);
    KRAIT_REQUIRE(n_out);
    if (batch <= 0 || height <= 0 || width <= 0)
        return set_error(KRAIT_ERR_INVALID_ARGUMENT, "batch, height and width must be > 0, got batch " +
                                                         std::to_string(batch) + ", height " + std::to_string(height) +
                                                         ", width " + std::to_string(width));
    if (!logits && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "logits is NULL but capacity > 0");
    return claimed(session, "krait_session_classifier_forward", [&] {
        require_classifier(session, "krait_session_classifier_forward");
        checked_product({batch, 3, height, width}, "the pixel tensor (batch * 3 * height * width)");
        const size_t needed = checked_product({batch, session->num_labels()}, "batch * num_labels");
        if (!output_fits(logits, capacity, needed, n_out, "logits", "floats")) return;
        session->classifier_forward(pixels, batch, height, width, logits);
        *n_out = needed;
    });
}

krait_status krait_session_get_num_labels(const krait_session* session, int64_t* out_num_labels) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(out_num_labels);
    return claimed(session, "krait_session_get_num_labels", [&] {
        require_classifier(session, "krait_session_get_num_labels");
        *out_num_labels = session->num_labels();
    });
}

/* ---- assistants ----------------------------------------------------------- */

namespace {

void require_assistant(const krait_session* s, const char* call) { s->model.require_assistant(call); }

// The model-ready pixels of one decoded image into the caller's buffer (the output protocol above).
krait_status preprocess_into(const krait_model* model, float* pixels, size_t capacity, size_t* n_out,
                             const std::function<krait::Image()>& decode) {
    return guarded([&] {
        if (model->kind == KRAIT_MODEL_SEQUENCE)
            krait::fail(KRAIT_ERR_WRONG_KIND, "krait_model_preprocess_image*: " + model->dir +
                                                  " is a sequence model; images need a vision-language assistant or a classifier");
        const krait::Image image = decode();
        const auto [h, w] = krait::preprocess_output_size(model->preprocess, image.height, image.width);
        if (!output_fits(pixels, capacity, checked_product({3, h, w}, "the image"), n_out, "pixels", "floats")) return;
        krait::preprocess(image, model->preprocess, pixels);
        *n_out = static_cast<size_t>(3 * h * w);
    });
}

// Checks the images of an assistant call: sizes, and pixels given when there are images.
void check_images(const float* pixels, int64_t n_images, int64_t height, int64_t width) {
    if (n_images < 0) krait::fail_argument("n_images must be >= 0, got " + std::to_string(n_images));
    if (n_images > 0 && !pixels) krait::fail_argument("pixels is NULL but n_images is " + std::to_string(n_images));
    if (n_images > 0 && (height <= 0 || width <= 0))
        krait::fail_argument("height and width must be > 0, got " + std::to_string(height) + " x " + std::to_string(width));
}

}  // namespace

krait_status krait_model_preprocess_image_file(const krait_model* model, const char* path, float* pixels,
                                               size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(n_out);
    return preprocess_into(model, pixels, capacity, n_out,
                           [&] { return krait::load_image_file(path, KRAIT_DEFAULT_MAX_IMAGE_PIXELS); });
}

krait_status krait_model_preprocess_image_encoded(const krait_model* model, const void* data, size_t size,
                                                  float* pixels, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(data);
    KRAIT_REQUIRE(n_out);
    if (size == 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "size is 0 (no bytes)");
    return preprocess_into(model, pixels, capacity, n_out, [&] {
        return krait::decode_image(static_cast<const uint8_t*>(data), size, KRAIT_DEFAULT_MAX_IMAGE_PIXELS,
                                   "encoded image (" + std::to_string(size) + " bytes)");
    });
}

krait_status krait_model_preprocess_image_pixels(const krait_model* model, const krait_image* image, float* pixels,
                                                 size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(image);
    KRAIT_REQUIRE(n_out);
    constexpr size_t kMinSize = offsetof(krait_image, channels) + sizeof(int32_t);
    if (image->struct_size < kMinSize)
        return set_error(KRAIT_ERR_INVALID_ARGUMENT, "image->struct_size is " + std::to_string(image->struct_size) +
                                                         ": set it to sizeof(krait_image)");
    return preprocess_into(model, pixels, capacity, n_out, [&] {
        check_image_fields(*image, "image: ", KRAIT_DEFAULT_MAX_IMAGE_PIXELS);
        return image_of(*image, KRAIT_DEFAULT_MAX_IMAGE_PIXELS);
    });
}

krait_status krait_session_assistant_forward(krait_session* session, const int32_t* ids, int64_t batch, int64_t length,
                                             const float* pixels, int64_t n_images, int64_t height, int64_t width,
                                             float* logits, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(ids);
    KRAIT_REQUIRE(n_out);
    return claimed(session, "krait_session_assistant_forward", [&] {
        require_assistant(session, "krait_session_assistant_forward");
        if (batch <= 0 || length <= 0)
            krait::fail_argument("batch and length must be > 0, got " + std::to_string(batch) + " x " + std::to_string(length));
        check_images(pixels, n_images, height, width);
        const size_t n_ids = checked_product({batch, length}, "batch * length");
        const size_t needed = checked_product({batch, length, session->model.vocab_size()}, "the logits");
        if (!output_fits(logits, capacity, needed, n_out, "logits", "floats")) return;
        session->model.check_ids(ids, n_ids);
        session->assistant_forward(ids, batch, length, pixels, n_images, height, width, logits);
        *n_out = needed;
    });
}

krait_status krait_session_append_images(krait_session* session, const int32_t* ids, size_t n_ids, const float* pixels,
                                         int64_t n_images, int64_t height, int64_t width, float* logits,
                                         size_t capacity) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(ids);
    if (n_ids == 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "n_ids must be > 0");
    return claimed(session, "krait_session_append_images", [&] {
        require_assistant(session, "krait_session_append_images");
        check_images(pixels, n_images, height, width);
        const size_t vocab = static_cast<size_t>(session->model.vocab_size());
        if (logits && capacity < vocab)
            krait::fail(KRAIT_ERR_BUFFER_TOO_SMALL,
                        "logits buffer holds " + std::to_string(capacity) + " floats, " + std::to_string(vocab) + " needed");
        session->model.check_ids(ids, n_ids);
        session->append_images(ids, n_ids, pixels, n_images, height, width, logits);
    });
}

krait_status krait_session_encode_images(krait_session* session, const float* pixels, int64_t n, int64_t height,
                                         int64_t width, float* features, size_t capacity, size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(pixels);
    KRAIT_REQUIRE(n_out);
    return claimed(session, "krait_session_encode_images", [&] {
        require_assistant(session, "krait_session_encode_images");
        if (n <= 0) krait::fail_argument("n must be > 0, got " + std::to_string(n));
        check_images(pixels, n, height, width);
        const krait::AssistantModel& a = *session->model.assistant;
        const size_t needed = checked_product({n, a.image_rows(), session->model.lm->info().hidden_size}, "the features");
        if (!output_fits(features, capacity, needed, n_out, "features", "floats")) return;
        session->encode_images(pixels, n, height, width, features);
        *n_out = needed;
    });
}

/* ---- LoRA adapters ---- */

static void fill_adapter_params(krait_adapter_params* params) {
    *params = krait_adapter_params{};
    params->struct_size = sizeof(krait_adapter_params);
}

void(krait_adapter_params_init)(krait_adapter_params* params) {
    init_sized(params, kAdapterParamsSize_1_8, fill_adapter_params);
}

void krait_adapter_params_init_sized(krait_adapter_params* params, size_t size) {
    init_sized(params, size, fill_adapter_params);
}

krait_status krait_adapter_load(krait_model* model, const char* path, const krait_adapter_params* params,
                                krait_adapter** out_adapter) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out_adapter);
    return guarded([&] {
        const krait_adapter_params p = read_params(params, fill_adapter_params);
        auto handle = std::make_unique<krait_adapter>();
        handle->impl = krait::LoraAdapter::load(path, model->adapter_targets(), p.name ? p.name : "");
        handle->model = model;
        *out_adapter = handle.release();
    });
}

void krait_adapter_free(krait_adapter* adapter) { delete adapter; }

krait_status krait_adapter_get_info(const krait_adapter* adapter, krait_adapter_info* info) {
    KRAIT_REQUIRE(adapter);
    KRAIT_REQUIRE(info);
    return guarded([&] {
        check_info_size(info->struct_size, kAdapterInfoSize_1_2, "info->struct_size", "krait_adapter_info");
        const krait::LoraAdapter& a = *adapter->impl;
        krait_adapter_info full{};
        full.struct_size = sizeof(full);
        full.name = a.name().c_str();
        full.path = a.dir().c_str();
        full.max_rank = static_cast<int32_t>(a.max_rank());
        full.lora_alpha = static_cast<float>(a.config().lora_alpha);
        full.use_rslora = a.config().use_rslora ? 1 : 0;
        full.num_targets = static_cast<int64_t>(a.modules().size() + a.replacements().size());
        full.num_parameters = a.num_parameters();
        full.num_labels = a.head() ? a.head()->out : 0;
        write_info(info, full);
    });
}

krait_status krait_adapter_get_target(const krait_adapter* adapter, int64_t index, krait_adapter_target* target) {
    KRAIT_REQUIRE(adapter);
    KRAIT_REQUIRE(target);
    return guarded([&] {
        check_info_size(target->struct_size, kAdapterTargetSize_1_2, "target->struct_size", "krait_adapter_target");
        const krait::LoraAdapter& a = *adapter->impl;
        const int64_t n_modules = static_cast<int64_t>(a.modules().size());
        const int64_t n = n_modules + static_cast<int64_t>(a.replacements().size());
        if (index < 0 || index >= n)
            krait::fail_argument("target index " + std::to_string(index) + " is out of range [0, " +
                                 std::to_string(n) + ")");
        krait_adapter_target full{};
        full.struct_size = sizeof(full);
        if (index < n_modules) {
            const krait::LoraModule& m = a.modules()[static_cast<size_t>(index)];
            full.module = m.name.c_str();
            full.kind = krait::target_kind_name(m.target.kind);
            full.rank = static_cast<int32_t>(m.rank);
            full.scaling = m.scaling;
        } else {
            const krait::ModuleReplacement& r = a.replacements()[static_cast<size_t>(index - n_modules)];
            full.module = r.name.c_str();
            full.kind = krait::target_kind_name(r.target.kind);
            full.replaced = 1;
        }
        write_info(target, full);
    });
}

krait_status krait_adapter_get_label(const krait_adapter* adapter, int32_t id, const char** out) {
    KRAIT_REQUIRE(adapter);
    KRAIT_REQUIRE(out);
    return guarded([&] {
        const krait::ModuleReplacement* head = adapter->impl->head();
        if (!head) krait::fail_argument("adapter " + krait::quote(adapter->impl->name()) + " does not replace the classifier head");
        if (id < 0 || static_cast<size_t>(id) >= head->labels.size())
            krait::fail_argument("label id " + std::to_string(id) + " is out of range [0, " +
                                 std::to_string(head->labels.size()) + ")");
        *out = head->labels[static_cast<size_t>(id)].c_str();
    });
}

krait_status krait_session_set_adapters(krait_session* session, const krait_adapter* const* adapters,
                                        const float* scales, size_t n) {
    KRAIT_REQUIRE(session);
    if (n > 0 && !adapters) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "adapters is NULL but n > 0");
    if (n > krait::limits::kAdaptersPerSet)
        return set_error(KRAIT_ERR_INVALID_ARGUMENT, std::to_string(n) + " adapters in one set: the limit is " +
                                                         std::to_string(krait::limits::kAdaptersPerSet));
    return claimed(session, "krait_session_set_adapters", [&] {
        std::vector<krait::ActiveAdapter> active;
        for (size_t i = 0; i < n; ++i) {
            if (!adapters[i]) krait::fail_argument("adapters[" + std::to_string(i) + "] is NULL");
            if (adapters[i]->model != &session->model)
                krait::fail_argument("adapters[" + std::to_string(i) + "] ('" + adapters[i]->impl->name() +
                                     "') was loaded for another model than the session's");
            active.push_back({adapters[i]->impl, scales ? scales[i] : 1.0f});
        }
        session->set_adapters(std::move(active));
    });
}

}  // extern "C"
