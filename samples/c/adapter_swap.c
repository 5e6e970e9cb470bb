/*
** adapter_swap.c — one model, LoRA adapters switched per request, in plain C.
**
**   usage: krait_sample_adapter_swap MODEL_DIR ADAPTER_DIR [PROMPT] [MAX_NEW_TOKENS]
**
** Loads a model once and a PEFT LoRA adapter for it, then answers the same
** prompt three times on one session: with the base model, with the adapter
** active, and with the base model again. Switching is one call,
** krait_session_set_adapters(), which costs microseconds: no weights are
** reloaded, copied or merged. Greedy decoding, so every run of the program
** prints the same text.
*/
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Prompt + greedy continuation on a fresh context of `session`. */
static krait_status answer(krait_session* session, const int32_t* prompt_ids, size_t n_prompt, const char* prompt,
                           int max_new_tokens, int32_t* new_ids) {
    krait_generate_params gen;
    size_t n_new = 0;
    krait_status status = krait_session_reset(session);
    if (status != KRAIT_OK) return status;
    krait_generate_params_init(&gen);
    gen.max_new_tokens = max_new_tokens;
    gen.sampling.temperature = 0.0f; /* greedy */
    gen.on_token = print_piece;
    fputs(prompt, stdout);
    status = krait_session_generate(session, prompt_ids, n_prompt, &gen, new_ids, (size_t)max_new_tokens, &n_new);
    fputs("\n", stdout);
    return status;
}

int main(int argc, char** argv) {
    const char* prompt = "This module provides";
    int max_new_tokens = 40;
    krait_model* model = NULL;
    krait_adapter* adapter = NULL;
    krait_session* session = NULL;
    const krait_tokenizer* tokenizer = NULL;
    int32_t* prompt_ids = NULL;
    int32_t* new_ids = NULL;
    size_t n_prompt = 0;
    krait_adapter_info info;
    krait_status status;
    double t0, load_ms, swap_in_us, swap_out_us;
    int exit_code = 1;

    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL_DIR ADAPTER_DIR [PROMPT] [MAX_NEW_TOKENS]\n", argv[0]);
        return 2;
    }
    if (argc > 3) prompt = argv[3];
    if (argc > 4 && (max_new_tokens = atoi(argv[4])) <= 0) {
        fprintf(stderr, "MAX_NEW_TOKENS must be a positive integer\n");
        return 2;
    }

    status = krait_model_load(argv[1], NULL, &model);
    if (status != KRAIT_OK) { exit_code = report("krait_model_load", status); goto cleanup; }

    /* The adapter is checked against this model: a folder made for another
    ** architecture or size is refused here, naming the first key that does not fit. */
    t0 = now_us();
    status = krait_adapter_load(model, argv[2], NULL, &adapter);
    load_ms = (now_us() - t0) / 1e3;
    if (status != KRAIT_OK) { exit_code = report("krait_adapter_load", status); goto cleanup; }
    info.struct_size = sizeof info;
    status = krait_adapter_get_info(adapter, &info);
    if (status != KRAIT_OK) { exit_code = report("krait_adapter_get_info", status); goto cleanup; }

    status = krait_model_get_tokenizer(model, &tokenizer);
    if (status != KRAIT_OK) { exit_code = report("krait_model_get_tokenizer", status); goto cleanup; }
    status = krait_tokenizer_encode(tokenizer, prompt, strlen(prompt), 1, NULL, 0, &n_prompt);
    if (status != KRAIT_OK) { exit_code = report("krait_tokenizer_encode (size)", status); goto cleanup; }
    prompt_ids = (int32_t*)malloc((n_prompt ? n_prompt : 1) * sizeof *prompt_ids);
    new_ids = (int32_t*)malloc((size_t)max_new_tokens * sizeof *new_ids);
    if (!prompt_ids || !new_ids) { fprintf(stderr, "out of memory\n"); goto cleanup; }
    status = krait_tokenizer_encode(tokenizer, prompt, strlen(prompt), 1, prompt_ids, n_prompt, &n_prompt);
    if (status != KRAIT_OK) { exit_code = report("krait_tokenizer_encode", status); goto cleanup; }

    status = krait_session_create(model, NULL, &session);
    if (status != KRAIT_OK) { exit_code = report("krait_session_create", status); goto cleanup; }

    printf("-- base model\n");
    status = answer(session, prompt_ids, n_prompt, prompt, max_new_tokens, new_ids);
    if (status != KRAIT_OK) { exit_code = report("krait_session_generate", status); goto cleanup; }

    {
        const krait_adapter* active[1];
        active[0] = adapter;
        t0 = now_us();
        status = krait_session_set_adapters(session, active, NULL, 1); /* NULL scales: 1.0 each */
        swap_in_us = now_us() - t0;
    }
    if (status != KRAIT_OK) { exit_code = report("krait_session_set_adapters", status); goto cleanup; }
    printf("-- with adapter '%s' (rank %d, %lld modules; loaded in %.1f ms, swapped in in %.1f us)\n", info.name,
           info.max_rank, (long long)info.num_targets, load_ms, swap_in_us);
    status = answer(session, prompt_ids, n_prompt, prompt, max_new_tokens, new_ids);
    if (status != KRAIT_OK) { exit_code = report("krait_session_generate", status); goto cleanup; }

    t0 = now_us();
    status = krait_session_set_adapters(session, NULL, NULL, 0); /* back to the base model */
    swap_out_us = now_us() - t0;
    if (status != KRAIT_OK) { exit_code = report("krait_session_set_adapters", status); goto cleanup; }
    printf("-- base model again (swapped out in %.1f us)\n", swap_out_us);
    status = answer(session, prompt_ids, n_prompt, prompt, max_new_tokens, new_ids);
    if (status != KRAIT_OK) { exit_code = report("krait_session_generate", status); goto cleanup; }
    exit_code = 0;

cleanup:
    /* Sessions and adapters before their model. The free functions accept NULL. */
    free(new_ids);
    free(prompt_ids);
    krait_session_free(session);
    krait_adapter_free(adapter);
    krait_model_free(model);
    return exit_code;
}
