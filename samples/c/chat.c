/*
** chat.c — a multi-turn conversation with a chat model, in plain C.
**
**   usage: krait_sample_chat [MODEL_DIR] [QUESTION...]
**          (default: models/chat-demo and two questions about the red teapot)
**
** A krait_conversation keeps the messages of a chat, renders them with the
** model's own chat template (tokenizer_config.json) and generates each reply.
** It prefills only what the session does not hold yet, so the second turn
** costs its new tokens, not the whole history: the stats printed after each
** reply show how many prompt tokens were reused. Greedy decoding, so every
** run prints the same replies.
*/
#include <stdio.h>

#include "krait/krait.h"

static int print_piece(int32_t token_id, const char* piece, size_t piece_len, void* user_data) {
    (void)token_id;
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    fflush(stdout);
    return 0; /* keep going */
}

static int report(const char* what, krait_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, krait_last_error(), krait_status_string(status));
    return 1;
}

int main(int argc, char** argv) {
    static const char* default_questions[] = {"How much is the red teapot?", "And how many are in stock?"};
    const char* model_dir = argc > 1 ? argv[1] : "models/chat-demo";
    const char* const* questions = argc > 2 ? (const char* const*)(argv + 2) : default_questions;
    int n_questions = argc > 2 ? argc - 2 : 2;

    krait_model* model = NULL;
    krait_session* session = NULL;
    krait_conversation* chat = NULL; /* borrows the session: freed before it */
    krait_generate_params gen;
    krait_conversation_stats stats;
    krait_status status;
    int i, exit_code = 1;

    status = krait_model_load(model_dir, NULL, &model);
    if (status != KRAIT_OK) { exit_code = report("krait_model_load", status); goto cleanup; }
    status = krait_session_create(model, NULL, &session);
    if (status != KRAIT_OK) { exit_code = report("krait_session_create", status); goto cleanup; }

    /* No system prompt (NULL), the model's own template (NULL), no extra
    ** template variables (NULL). */
    status = krait_conversation_create(session, NULL, NULL, NULL, &chat);
    if (status != KRAIT_OK) { exit_code = report("krait_conversation_create", status); goto cleanup; }

    krait_generate_params_init(&gen);
    gen.max_new_tokens = 48;
    gen.sampling.temperature = 0.0f; /* greedy */
    gen.on_token = print_piece;      /* the reply streams as it is generated */

    for (i = 0; i < n_questions; ++i) {
        printf("user:      %s\nassistant: ", questions[i]);
        fflush(stdout);
        /* Adds the user message, replies, and appends the reply as an
        ** "assistant" message. The reply ends at the model's end-of-turn token. */
        status = krait_conversation_say(chat, questions[i], &gen);
        printf("\n");
        fflush(stdout); /* before the stats on stderr */
        if (status != KRAIT_OK) { exit_code = report("krait_conversation_say", status); goto cleanup; }

        stats.struct_size = sizeof stats; /* an info struct: the caller sets its size */
        status = krait_conversation_get_stats(chat, &stats);
        if (status != KRAIT_OK) { exit_code = report("krait_conversation_get_stats", status); goto cleanup; }
        fprintf(stderr, "  (prompt %lld tokens, %lld reused, %lld generated)\n", (long long)stats.prompt_tokens,
                (long long)stats.reused_tokens, (long long)stats.generated_tokens);
    }
    exit_code = 0;

cleanup:
    /* Conversation before its session, sessions before their model. */
    krait_conversation_free(chat);
    krait_session_free(session);
    krait_model_free(model);
    return exit_code;
}
