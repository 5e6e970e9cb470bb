/*
** assistant.c — two questions about a picture to a vision-language assistant,
** in plain C.
**
**   usage: krait_sample_assistant [MODEL_DIR [PICTURE [QUESTION...]]]
**          (default: models/shapes-mamba-assistant models/samples/shapes_1.png
**           "What colour is the circle?" "And where is it?")
**
** The picture is decoded and made model-ready once (the model's own
** preprocessing), then goes with the first question. The second question
** refers to the first turn and needs no picture: the conversation keeps the
** picture in its history, and the session's state after it is reused, so the
** image encoder does not run again (see the stats printed after each reply).
*/
#include <stdio.h>
#include <stdlib.h>

#include "krait/krait.h"

static int print_piece(int32_t token_id, const char* piece, size_t piece_len, void* user_data) {
    (void)token_id;
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    fflush(stdout);
    return 0;
}

static int report(const char* what, krait_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, krait_last_error(), krait_status_string(status));
    return 1;
}

int main(int argc, char** argv) {
    static const char* default_questions[] = {"What colour is the circle?", "And where is it?"};
    const char* model_dir = argc > 1 ? argv[1] : "models/shapes-mamba-assistant";
    const char* picture = argc > 2 ? argv[2] : "models/samples/shapes_1.png";
    const char* const* questions = argc > 3 ? (const char* const*)(argv + 3) : default_questions;
    int n_questions = argc > 3 ? argc - 3 : 2;

    krait_model* model = NULL;
    krait_session* session = NULL;
    krait_conversation* chat = NULL;
    krait_model_info info;
    krait_generate_params gen;
    krait_conversation_stats stats;
    float* pixels = NULL;
    size_t n_floats = 0;
    krait_status status;
    int i, exit_code = 1;

    status = krait_model_load(model_dir, NULL, &model);
    if (status != KRAIT_OK) { exit_code = report("krait_model_load", status); goto cleanup; }
    info.struct_size = sizeof info;
    status = krait_model_get_info(model, &info);
    if (status != KRAIT_OK) { exit_code = report("krait_model_get_info", status); goto cleanup; }
    if (info.kind != KRAIT_MODEL_ASSISTANT) {
        fprintf(stderr, "%s is a %s model, not a vision-language assistant\n", model_dir, info.architecture);
        goto cleanup;
    }

    /* The picture as model-ready pixels, float32 [3, image_height,
    ** image_width]: a size query, then the real call. */
    status = krait_model_preprocess_image_file(model, picture, NULL, 0, &n_floats);
    if (status != KRAIT_OK) { exit_code = report("krait_model_preprocess_image_file (size)", status); goto cleanup; }
    pixels = (float*)malloc(n_floats * sizeof *pixels);
    if (!pixels) { fprintf(stderr, "out of memory\n"); goto cleanup; }
    status = krait_model_preprocess_image_file(model, picture, pixels, n_floats, &n_floats);
    if (status != KRAIT_OK) { exit_code = report("krait_model_preprocess_image_file", status); goto cleanup; }

    status = krait_session_create(model, NULL, &session);
    if (status != KRAIT_OK) { exit_code = report("krait_session_create", status); goto cleanup; }
    status = krait_conversation_create(session, NULL, NULL, NULL, &chat);
    if (status != KRAIT_OK) { exit_code = report("krait_conversation_create", status); goto cleanup; }

    krait_generate_params_init(&gen);
    gen.max_new_tokens = 32;
    gen.sampling.temperature = 0.0f; /* greedy */
    gen.on_token = print_piece;

    printf("picture:   %s (%s, %lld image rows)\n", picture, info.architecture, (long long)info.image_rows);
    for (i = 0; i < n_questions; ++i) {
        printf("user:      %s\nassistant: ", questions[i]);
        fflush(stdout);
        if (i == 0) /* the first message shows the picture (pixels are copied) */
            status = krait_conversation_say_images(chat, questions[i], pixels, 1, info.image_height,
                                                   info.image_width, &gen);
        else        /* later ones refer to it through the history */
            status = krait_conversation_say(chat, questions[i], &gen);
        printf("\n");
        fflush(stdout); /* before the stats on stderr */
        if (status != KRAIT_OK) { exit_code = report("krait_conversation_say", status); goto cleanup; }

        stats.struct_size = sizeof stats;
        status = krait_conversation_get_stats(chat, &stats);
        if (status != KRAIT_OK) { exit_code = report("krait_conversation_get_stats", status); goto cleanup; }
        fprintf(stderr, "  (prompt %lld tokens, %lld reused; images encoded %lld, from cache %lld)\n",
                (long long)stats.prompt_tokens, (long long)stats.reused_tokens, (long long)stats.images_encoded,
                (long long)stats.images_cached);
    }
    exit_code = 0;

cleanup:
    krait_conversation_free(chat);
    krait_session_free(session);
    free(pixels);
    krait_model_free(model);
    return exit_code;
}
