/* Consumer of an installed Krait (see CMakeLists.txt): checks the header and
** the library agree, then loads the model directory given as argv[1] and
** prints a few facts. Exit code 0 on success. */
#include <stdio.h>

#include <krait/krait.h>

int main(int argc, char** argv) {
    krait_model* model = NULL;
    krait_model_info info;
    krait_status status;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    if (krait_version() != KRAIT_VERSION_NUMBER) {
        fprintf(stderr, "header %d != library %u\n", KRAIT_VERSION_NUMBER, (unsigned)krait_version());
        return 1;
    }
    status = krait_model_load(argv[1], NULL, &model);
    if (status != KRAIT_OK) {
        fprintf(stderr, "krait_model_load: %s\n", krait_last_error());
        return 1;
    }
    info.struct_size = sizeof info;
    status = krait_model_get_info(model, &info);
    if (status != KRAIT_OK) {
        fprintf(stderr, "krait_model_get_info: %s\n", krait_last_error());
        krait_model_free(model);
        return 1;
    }
    printf("consumer_c: libkrait %s, %s model, %lld layers, vocab %lld\n", krait_version_string(), info.architecture,
           (long long)info.num_layers, (long long)info.vocab_size);
    krait_model_free(model);
    return 0;
}
