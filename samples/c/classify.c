/*
** classify.c — image classification in plain C.
**
**   usage: krait_sample_classify MODEL_DIR IMAGE...
**   e.g.   krait_sample_classify models/vit-digits models/samples/digit_*.png
**
** Loads an image classifier (ViT, MambaVision, or an ONNX file) and prints the
** three most probable classes of each picture (PNG, JPEG, BMP, GIF). Krait
** decodes and preprocesses the files as the model's preprocessor_config.json
** says, and runs all pictures of the call through the model together.
*/
#include <stdio.h>
#include <stdlib.h>

#include "krait/krait.h"

static int report(const char* what, krait_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, krait_last_error(), krait_status_string(status));
    return 1;
}

int main(int argc, char** argv) {
    const int32_t top_k = 3;
    const char* const* paths = (const char* const*)(argv + 2);
    size_t n_images, n_out = 0, k, i, j;

    krait_model* model = NULL;
    krait_session* session = NULL;
    krait_model_info info;
    krait_classification* results = NULL;
    krait_status status;
    int exit_code = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE...\n", argv[0]);
        return 2;
    }
    n_images = (size_t)(argc - 2);

    status = krait_model_load(argv[1], NULL, &model);
    if (status != KRAIT_OK) { exit_code = report("krait_model_load", status); goto cleanup; }
    info.struct_size = sizeof info;
    status = krait_model_get_info(model, &info);
    if (status != KRAIT_OK) { exit_code = report("krait_model_get_info", status); goto cleanup; }
    if (info.kind != KRAIT_MODEL_CLASSIFIER) {
        fprintf(stderr, "%s is a %s model, not an image classifier\n", argv[1], info.architecture);
        goto cleanup;
    }
    printf("%s: %s, %lld classes, %lldx%lld input\n", argv[1], info.architecture, (long long)info.num_labels,
           (long long)info.image_width, (long long)info.image_height);

    status = krait_session_create(model, NULL, &session);
    if (status != KRAIT_OK) { exit_code = report("krait_session_create", status); goto cleanup; }

    /* The results are n_images * k entries with k = min(top_k, num_labels);
    ** a NULL buffer with capacity 0 asks for that count (nothing is run). */
    status = krait_session_classify_files(session, paths, n_images, top_k, NULL, 0, &n_out);
    if (status != KRAIT_OK) { exit_code = report("krait_session_classify_files (size)", status); goto cleanup; }
    results = (krait_classification*)malloc(n_out * sizeof *results);
    if (!results) { fprintf(stderr, "out of memory\n"); goto cleanup; }
    status = krait_session_classify_files(session, paths, n_images, top_k, results, n_out, &n_out);
    if (status != KRAIT_OK) { exit_code = report("krait_session_classify_files", status); goto cleanup; }

    /* Per image in input order, its k best classes, most probable first.
    ** The label strings belong to the model: valid as long as it is loaded. */
    k = n_out / n_images;
    for (i = 0; i < n_images; ++i) {
        printf("%s:", paths[i]);
        for (j = 0; j < k; ++j) {
            const krait_classification* c = &results[i * k + j];
            printf("  %s %.3f", c->label, (double)c->probability);
        }
        printf("\n");
    }
    exit_code = 0;

cleanup:
    free(results);
    krait_session_free(session);
    krait_model_free(model);
    return exit_code;
}
