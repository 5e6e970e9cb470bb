/*
** header_is_c.c — proves that krait.h is a plain C99 header and checks the
** ABI conventions a C caller relies on without any model file:
**  - run-time version == compile-time version;
**  - every *_params_init sets struct_size and the documented defaults;
**  - enums are 32-bit;
**  - NULL arguments give KRAIT_ERR_INVALID_ARGUMENT, a non-empty
**    krait_last_error(), and leave out-parameters untouched;
**  - every free function accepts NULL.
** Exit code: 0 when every check passes, 1 otherwise (each failure is printed).
*/
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "krait/krait.h"

static int g_failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                        \
        }                                                                        \
    } while (0)

/* `call` must fail with INVALID_ARGUMENT and leave a message. */
#define CHECK_INVALID(call)                                                                    \
    do {                                                                                       \
        krait_status s_ = (call);                                                              \
        const char* msg_ = krait_last_error();                                                 \
        if (s_ != KRAIT_ERR_INVALID_ARGUMENT) {                                                \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected INVALID_ARGUMENT\n", __FILE__, \
                    __LINE__, #call, (int)s_, krait_status_string(s_));                        \
            ++g_failures;                                                                      \
        } else if (msg_ == NULL || msg_[0] == '\0') {                                          \
            fprintf(stderr, "%s:%d: %s gave no krait_last_error() message\n", __FILE__, __LINE__, #call); \
            ++g_failures;                                                                      \
        }                                                                                      \
    } while (0)

static void check_version(void) {
    char expected[32];
    CHECK(krait_version() == KRAIT_VERSION_NUMBER);
    sprintf(expected, "%d.%d.%d", KRAIT_VERSION_MAJOR, KRAIT_VERSION_MINOR, KRAIT_VERSION_PATCH);
    CHECK(krait_version_string() != NULL);
    CHECK(krait_version_string() != NULL && strcmp(krait_version_string(), expected) == 0);
}

static void check_status_strings(void) {
    int s;
    for (s = KRAIT_OK; s <= KRAIT_ERR_INTERNAL; ++s) {
        const char* name = krait_status_string((krait_status)s);
        CHECK(name != NULL && name[0] != '\0');
    }
    /* An unknown code still gets a string, not a crash. */
    CHECK(krait_status_string((krait_status)12345) != NULL);
}

static void check_enums_are_32_bit(void) {
    CHECK(sizeof(krait_status) == 4);
    CHECK(sizeof(krait_log_level) == 4);
    CHECK(sizeof(krait_device) == 4);
    CHECK(sizeof(krait_model_kind) == 4);
}

static void check_params_init(void) {
    krait_model_params mp;
    krait_session_params sp;
    krait_sampling_params sa;
    krait_generate_params gp;

    memset(&mp, 0xAB, sizeof mp);
    krait_model_params_init(&mp);
    CHECK(mp.struct_size == sizeof mp);
    CHECK(mp.device == KRAIT_DEVICE_CPU);
    CHECK(mp.progress == NULL);
    CHECK(mp.progress_user_data == NULL);

    memset(&sp, 0xAB, sizeof sp);
    krait_session_params_init(&sp);
    CHECK(sp.struct_size == sizeof sp);
    CHECK(sp.n_threads == 0);

    memset(&sa, 0xAB, sizeof sa);
    krait_sampling_params_init(&sa);
    CHECK(sa.struct_size == sizeof sa);
    CHECK(sa.temperature == 1.0f);
    CHECK(sa.top_k == 50);
    CHECK(sa.top_p == 1.0f);
    CHECK(sa.min_p == 0.0f);
    CHECK(sa.repetition_penalty == 1.0f);
    CHECK(sa.seed == 0);

    memset(&gp, 0xAB, sizeof gp);
    krait_generate_params_init(&gp);
    CHECK(gp.struct_size == sizeof gp);
    CHECK(gp.max_new_tokens == 32);
    CHECK(gp.sampling.struct_size == sizeof gp.sampling);
    CHECK(gp.sampling.temperature == 1.0f);
    CHECK(gp.sampling.top_k == 50);
    CHECK(gp.stop_strings == NULL);
    CHECK(gp.n_stop_strings == 0);
    CHECK(gp.stop_at_eos == 1);
    CHECK(gp.on_token == NULL);
    CHECK(gp.user_data == NULL);
}

static void check_null_arguments(void) {
    /* Sentinels: out-parameters must be left untouched on failure. */
    krait_model* model = (krait_model*)&g_failures;
    krait_tokenizer* tokenizer = (krait_tokenizer*)&g_failures;
    const krait_tokenizer* borrowed = (const krait_tokenizer*)&g_failures;
    krait_session* session = (krait_session*)&g_failures;
    krait_model_info info;
    int32_t ids[4] = {1, 2, 3, 4};
    int32_t out_ids[4];
    float logits[4];
    char text[4];
    size_t n = 77;
    int64_t vocab = 77;
    krait_generate_params gp;

    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    krait_generate_params_init(&gp);

    CHECK_INVALID(krait_model_load(NULL, NULL, &model));
    CHECK(model == (krait_model*)&g_failures);
    CHECK_INVALID(krait_model_load("/nonexistent", NULL, NULL));
    CHECK_INVALID(krait_model_get_info(NULL, &info));
    CHECK_INVALID(krait_model_get_tokenizer(NULL, &borrowed));
    CHECK(borrowed == (const krait_tokenizer*)&g_failures);

    CHECK_INVALID(krait_tokenizer_load(NULL, &tokenizer));
    CHECK(tokenizer == (krait_tokenizer*)&g_failures);
    CHECK_INVALID(krait_tokenizer_load("/nonexistent/tokenizer.json", NULL));
    CHECK_INVALID(krait_tokenizer_encode(NULL, "a", 1, 1, ids, 4, &n));
    CHECK(n == 77);
    CHECK_INVALID(krait_tokenizer_decode(NULL, ids, 4, text, sizeof text, &n));
    CHECK(n == 77);
    CHECK_INVALID(krait_tokenizer_decode_v2(NULL, ids, 4, 1, text, sizeof text, &n));
    CHECK(n == 77);
    CHECK_INVALID(krait_model_apply_chat_template(NULL, "[]", 1, NULL, NULL, text, sizeof text, &n));
    CHECK(n == 77);
    CHECK_INVALID(krait_tokenizer_vocab_size(NULL, &vocab));
    CHECK(vocab == 77);

    CHECK_INVALID(krait_session_create(NULL, NULL, &session));
    CHECK(session == (krait_session*)&g_failures);
    CHECK_INVALID(krait_session_set_threads(NULL, 1));
    CHECK_INVALID(krait_session_reset(NULL));
    CHECK_INVALID(krait_session_forward(NULL, ids, 1, 4, logits, 4, &n));
    CHECK(n == 77);
    CHECK_INVALID(krait_session_append(NULL, ids, 4, logits, 4));
    CHECK_INVALID(krait_session_generate(NULL, ids, 4, &gp, out_ids, 4, &n));
    CHECK(n == 77);
}

static void check_missing_directory(void) {
    krait_model* model = (krait_model*)&g_failures;
    krait_status s = krait_model_load("/nonexistent/krait-model-dir", NULL, &model);
    CHECK(s == KRAIT_ERR_IO);
    CHECK(model == (krait_model*)&g_failures);
    CHECK(krait_last_error()[0] != '\0');
}

/* The layouts krait.h freezes for all of 1.x (ABI RULES), as a C compiler lays them out. */
static void check_frozen_layouts(void) {
    if (sizeof(void*) != 8) return; /* the numbers below are the LP64 layout */
    CHECK(sizeof(krait_classification) == 16);
    CHECK(offsetof(krait_classification, probability) == 4);
    CHECK(offsetof(krait_classification, label) == 8);
    CHECK(sizeof(krait_sampling_params) == 32);
    CHECK(offsetof(krait_generate_params, sampling) == 8);
    CHECK(offsetof(krait_generate_params, stop_strings) == 40);
}

static void check_free_accepts_null(void) {
    krait_model_free(NULL);
    krait_tokenizer_free(NULL);
    krait_session_free(NULL);
    krait_adapter_free(NULL);
    krait_session_abort(NULL);
    krait_session_clear_abort(NULL);
    /* NULL callback restores the default log sink. */
    krait_set_log_callback(NULL, NULL, KRAIT_LOG_WARN);
}

int main(void) {
    check_version();
    check_status_strings();
    check_enums_are_32_bit();
    check_params_init();
    check_null_arguments();
    check_missing_directory();
    check_frozen_layouts();
    check_free_accepts_null();
    if (g_failures) {
        fprintf(stderr, "header_is_c: %d check(s) failed\n", g_failures);
        return 1;
    }
    printf("header_is_c: all checks passed\n");
    return 0;
}
