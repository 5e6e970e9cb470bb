// The C entry points: argument checks, then a call into sdk/, with every
// exception turned into a status code and a per-thread message. Nothing here
// computes; each function is a guard around one C++ method.
#include <cstring>
#include <new>
#include <string>

#include "krait/krait.h"
#include "sdk/core/error.h"
#include "sdk/core/log.h"
#include "sdk/session/model.h"
#include "sdk/session/session.h"

namespace {

thread_local std::string g_last_error;

krait_status set_error(krait_status status, const std::string& message) {
    g_last_error = message;
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

void require_sequence(const krait_session* s) {
    if (s->model.kind != KRAIT_MODEL_SEQUENCE) krait::fail(KRAIT_ERR_WRONG_KIND, "not a sequence model");
}

void require_tokenizer(const krait_tokenizer* t) {
    if (!t->impl) krait::fail_argument("tokenizer handle is empty");
}

}  // namespace

extern "C" {

uint32_t krait_version(void) { return KRAIT_VERSION_NUMBER; }

const char* krait_version_string(void) {
#define KRAIT_STR2(x) #x
#define KRAIT_STR(x) KRAIT_STR2(x)
    return KRAIT_STR(KRAIT_VERSION_MAJOR) "." KRAIT_STR(KRAIT_VERSION_MINOR) "." KRAIT_STR(KRAIT_VERSION_PATCH);
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
        default: return "unknown status";
    }
}

void krait_set_log_callback(krait_log_fn callback, void* user_data, krait_log_level min_level) {
    krait::set_log_callback(callback, user_data, min_level);
}

/* ---- models ------------------------------------------------------------- */

void krait_model_params_init(krait_model_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->device = KRAIT_DEVICE_CPU;
}

krait_status krait_model_load(const char* path, const krait_model_params* params, krait_model** out_model) {
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out_model);
    return guarded([&] {
        const krait_model_params p = read_params(params, krait_model_params_init);
        *out_model = new krait_model(path, p);
    });
}

void krait_model_free(krait_model* model) { delete model; }

krait_status krait_model_get_info(const krait_model* model, krait_model_info* info) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(info);
    if (info->struct_size < sizeof(uint32_t))
        return set_error(KRAIT_ERR_INVALID_ARGUMENT, "info->struct_size must be set to sizeof(krait_model_info)");
    return guarded([&] {
        const auto& c = model->mamba->config();
        krait_model_info full{};
        full.struct_size = sizeof full;
        full.kind = model->kind;
        full.architecture = "mamba";
        full.vocab_size = c.vocab_size;
        full.hidden_size = c.hidden_size;
        full.num_layers = c.num_layers;
        full.state_size = c.state_size;
        full.num_parameters = model->mamba->num_parameters();
        full.weight_bytes = full.num_parameters * static_cast<int64_t>(sizeof(float));
        full.bos_token_id = c.bos_token_id;
        full.eos_token_id = c.eos_token_id;
        full.source_dtype = model->mamba->source_dtype().c_str();
        const uint32_t caller_size = info->struct_size;
        std::memcpy(info, &full, caller_size < sizeof full ? caller_size : sizeof full);
        info->struct_size = caller_size;
    });
}

/* ---- tokenizers ----------------------------------------------------------- */

krait_status krait_tokenizer_load(const char* path, krait_tokenizer** out_tokenizer) {
    KRAIT_REQUIRE(path);
    KRAIT_REQUIRE(out_tokenizer);
    return guarded([&] {
        auto t = std::make_unique<krait_tokenizer>();
        t->impl = krait::Tokenizer::from_file(path);
        *out_tokenizer = t.release();
    });
}

void krait_tokenizer_free(krait_tokenizer* tokenizer) { delete tokenizer; }

krait_status krait_model_get_tokenizer(const krait_model* model, const krait_tokenizer** out_tokenizer) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(out_tokenizer);
    if (!model->tokenizer.impl)
        return set_error(KRAIT_ERR_UNSUPPORTED, model->dir + ": the model has no tokenizer.json");
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
    KRAIT_REQUIRE(tokenizer);
    KRAIT_REQUIRE(n_out);
    if (!ids && n_ids > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "ids is NULL but n_ids > 0");
    if (!text && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "text is NULL but capacity > 0");
    krait_status status = KRAIT_OK;
    krait_status guard = guarded([&] {
        require_tokenizer(tokenizer);
        const std::string decoded = tokenizer->impl->decode(std::span<const int32_t>(ids, n_ids));
        if (decoded.size() > capacity && !(text == nullptr && capacity == 0)) {
            status = KRAIT_ERR_BUFFER_TOO_SMALL;
        } else if (text) {
            std::memcpy(text, decoded.data(), decoded.size());
        }
        *n_out = decoded.size();
    });
    if (guard != KRAIT_OK) return guard;
    if (status != KRAIT_OK)
        return set_error(status, "text buffer holds " + std::to_string(capacity) + " bytes, " + std::to_string(*n_out) + " needed");
    return KRAIT_OK;
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

void krait_session_params_init(krait_session_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->n_threads = 0;
}

krait_status krait_session_create(krait_model* model, const krait_session_params* params, krait_session** out_session) {
    KRAIT_REQUIRE(model);
    KRAIT_REQUIRE(out_session);
    return guarded([&] {
        const krait_session_params p = read_params(params, krait_session_params_init);
        *out_session = new krait_session(*model, p);
    });
}

void krait_session_free(krait_session* session) { delete session; }

krait_status krait_session_set_threads(krait_session* session, int32_t n_threads) {
    KRAIT_REQUIRE(session);
    return guarded([&] { session->set_threads(n_threads); });
}

void krait_session_abort(krait_session* session) {
    if (session) session->abort();
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
    return guarded([&] {
        require_sequence(session);
        const size_t needed = static_cast<size_t>(batch) * static_cast<size_t>(length) *
                              static_cast<size_t>(session->model.vocab_size());
        if (!logits && capacity == 0) {  // size query
            *n_out = needed;
            return;
        }
        if (capacity < needed) {
            *n_out = needed;
            krait::fail(KRAIT_ERR_BUFFER_TOO_SMALL, "logits buffer holds " + std::to_string(capacity) + " floats, " +
                                                        std::to_string(needed) + " needed");
        }
        session->model.check_ids(ids, static_cast<size_t>(batch * length));
        session->forward(ids, batch, length, logits);
        *n_out = needed;
    });
}

krait_status krait_session_reset(krait_session* session) {
    KRAIT_REQUIRE(session);
    return guarded([&] { session->reset(); });
}

krait_status krait_session_append(krait_session* session, const int32_t* ids, size_t n_ids, float* logits,
                                  size_t capacity) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(ids);
    if (n_ids == 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "n_ids must be > 0");
    return guarded([&] {
        require_sequence(session);
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

void krait_generate_params_init(krait_generate_params* params) {
    if (!params) return;
    std::memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->max_new_tokens = 32;
    krait_sampling_params_init(&params->sampling);
    params->stop_at_eos = 1;
}

krait_status krait_session_generate(krait_session* session, const int32_t* prompt_ids, size_t n_prompt,
                                    const krait_generate_params* params, int32_t* out_ids, size_t capacity,
                                    size_t* n_out) {
    KRAIT_REQUIRE(session);
    KRAIT_REQUIRE(n_out);
    if (!prompt_ids && n_prompt > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "prompt_ids is NULL but n_prompt > 0");
    if (!out_ids && capacity > 0) return set_error(KRAIT_ERR_INVALID_ARGUMENT, "out_ids is NULL but capacity > 0");
    return guarded([&] {
        require_sequence(session);
        const krait_generate_params p = read_params(params, krait_generate_params_init);
        if (n_prompt) session->model.check_ids(prompt_ids, n_prompt);
        *n_out = session->generate(prompt_ids, n_prompt, p, out_ids, capacity);
    });
}

}  // extern "C"
