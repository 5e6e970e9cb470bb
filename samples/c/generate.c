/*
** generate.c — the "hello world" of the Krait SDK in plain C.
**
**   usage: krait_sample_generate MODEL_DIR [PROMPT] [MAX_NEW_TOKENS]
**
** Loads a model directory (config.json, model.safetensors, tokenizer.json),
** encodes a prompt, and streams the generated text to stdout.
**
** The pattern to copy: every Krait call that can fail returns a krait_status;
** on failure krait_last_error() says what went wrong. Every object we get from
** Krait is released with its krait_*_free(), which also accepts NULL, so one
** cleanup block at the end handles every exit path.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krait/krait.h"

/* Called by krait_session_generate() once per new token. `piece` is the text
** that token completes (maybe empty while a multi-byte character is still
** incomplete); it is not NUL-terminated and valid only during the call. */
static int print_piece(int32_t token_id, const char* piece, size_t piece_len, void* user_data) {
    (void)token_id;
    (void)user_data;
    fwrite(piece, 1, piece_len, stdout);
    fflush(stdout); /* show each piece as soon as it exists */
    return 0;       /* 0: keep going; nonzero would stop generating */
}

/* Prints the failed call and Krait's message for it. */
static int report(const char* what, krait_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, krait_last_error(), krait_status_string(status));
    return 1;
}

int main(int argc, char** argv) {
    const char* model_dir;
    const char* prompt = "The quick brown fox";
    int max_new_tokens = 48;

    krait_model* model = NULL;
    krait_session* session = NULL;
    const krait_tokenizer* tokenizer = NULL; /* borrowed from the model: never freed */
    int32_t* prompt_ids = NULL;
    int32_t* new_ids = NULL;
    size_t n_prompt = 0, n_new = 0;
    krait_generate_params gen;
    krait_status status;
    int exit_code = 1;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL_DIR [PROMPT] [MAX_NEW_TOKENS]\n", argv[0]);
        return 2;
    }
    model_dir = argv[1];
    if (argc > 2) prompt = argv[2];
    if (argc > 3) {
        max_new_tokens = atoi(argv[3]);
        if (max_new_tokens <= 0) {
            fprintf(stderr, "MAX_NEW_TOKENS must be a positive integer\n");
            return 2;
        }
    }

    /* A header built for version 1.x needs a library 1.y with y >= x. */
    if (krait_version() / 1000000 != KRAIT_VERSION_MAJOR || krait_version() < KRAIT_VERSION_NUMBER) {
        fprintf(stderr, "libkrait %s does not match krait.h %d.%d\n", krait_version_string(), KRAIT_VERSION_MAJOR,
                KRAIT_VERSION_MINOR);
        return 1;
    }

    /* 1. Load the model. NULL params: defaults (CPU, no progress callback). */
    status = krait_model_load(model_dir, NULL, &model);
    if (status != KRAIT_OK) { exit_code = report("krait_model_load", status); goto cleanup; }

    /* 2. Its tokenizer (from tokenizer.json in the model directory). */
    status = krait_model_get_tokenizer(model, &tokenizer);
    if (status != KRAIT_OK) { exit_code = report("krait_model_get_tokenizer", status); goto cleanup; }

    /* 3. Encode the prompt: first ask for the number of ids (NULL buffer,
    **    capacity 0), then allocate and encode for real. */
    status = krait_tokenizer_encode(tokenizer, prompt, strlen(prompt), 1, NULL, 0, &n_prompt);
    if (status != KRAIT_OK) { exit_code = report("krait_tokenizer_encode (size)", status); goto cleanup; }
    prompt_ids = (int32_t*)malloc((n_prompt ? n_prompt : 1) * sizeof *prompt_ids);
    if (!prompt_ids) { fprintf(stderr, "out of memory\n"); goto cleanup; }
    status = krait_tokenizer_encode(tokenizer, prompt, strlen(prompt), 1, prompt_ids, n_prompt, &n_prompt);
    if (status != KRAIT_OK) { exit_code = report("krait_tokenizer_encode", status); goto cleanup; }

    /* 4. A session holds one conversation's state. NULL params: defaults
    **    (all cores). */
    status = krait_session_create(model, NULL, &session);
    if (status != KRAIT_OK) { exit_code = report("krait_session_create", status); goto cleanup; }

    /* 5. Generate. Always start from krait_generate_params_init() so that
    **    fields added by later versions keep their defaults. */
    krait_generate_params_init(&gen);
    gen.max_new_tokens = max_new_tokens;
    gen.sampling.temperature = 0.8f;
    gen.sampling.seed = 42; /* same seed, same text */
    gen.on_token = print_piece;
    new_ids = (int32_t*)malloc((size_t)max_new_tokens * sizeof *new_ids);
    if (!new_ids) { fprintf(stderr, "out of memory\n"); goto cleanup; }

    fputs(prompt, stdout);
    status = krait_session_generate(session, prompt_ids, n_prompt, &gen, new_ids, (size_t)max_new_tokens, &n_new);
    fputs("\n", stdout);
    fflush(stdout);
    if (status != KRAIT_OK) { exit_code = report("krait_session_generate", status); goto cleanup; }

    fprintf(stderr, "%zu prompt tokens, %zu new tokens\n", n_prompt, n_new);
    exit_code = 0;

cleanup:
    /* Sessions before their model. The free functions accept NULL. */
    free(new_ids);
    free(prompt_ids);
    krait_session_free(session);
    krait_model_free(model);
    return exit_code;
}
