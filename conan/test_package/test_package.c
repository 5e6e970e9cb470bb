/* The C ABI from the Conan package: header and library agree; with a model directory as argument,
** loads it and prints what it is. */
#include <stdio.h>

#include <krait/krait.h>

int main(int argc, char** argv) {
    krait_model* model = NULL;
    krait_model_info info;

    printf("test_package_c: libkrait %s (header %d.%d.%d), CPU kernels %s\n", krait_version_string(),
           KRAIT_VERSION_MAJOR, KRAIT_VERSION_MINOR, KRAIT_VERSION_PATCH, krait_cpu_kernels());
    if (krait_version() / 1000000 != KRAIT_VERSION_MAJOR || krait_version() < KRAIT_VERSION_NUMBER) return 1;
    if (argc < 2) return 0;
    if (krait_model_load(argv[1], NULL, &model) != KRAIT_OK) {
        fprintf(stderr, "krait_model_load: %s\n", krait_last_error());
        return 1;
    }
    info.struct_size = sizeof info;
    if (krait_model_get_info(model, &info) != KRAIT_OK) {
        fprintf(stderr, "krait_model_get_info: %s\n", krait_last_error());
        krait_model_free(model);
        return 1;
    }
    printf("test_package_c: %s model, %lld layers, vocab %lld\n", info.architecture, (long long)info.num_layers,
           (long long)info.vocab_size);
    krait_model_free(model);
    return 0;
}
