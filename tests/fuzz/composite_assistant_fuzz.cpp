// Composite assistant directories (sdk/models/composite_assistant.h, docs/COMPOSITE_ASSISTANTS.md):
// the input is the directory's config.json, beside valid parts: the scratch directory holds
// symbolic links to each fixture directory of tests/fixtures/composite (so a config may name
// "vit_llama_prefix/image_encoder", "mamba_chat/projector.safetensors", ...) and, under the plain
// names image_encoder, language_model and projector.safetensors, mamba_chat's parts. A config
// that parses is loaded for real: encoder and language model through the registry, projector
// sizes against both, the image token against the vocabulary.
#include <filesystem>

#include "fuzz_common.h"
#include "sdk/models/composite_assistant.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string dir = [] {
        const std::string d = krait_fuzz::scratch_dir() + "/assistant";
        fs::create_directories(d);
        const fs::path fixtures = krait_fuzz::source_path("tests/fixtures/composite");
        for (const auto& entry : fs::directory_iterator(fixtures))
            if (entry.is_directory()) fs::create_directory_symlink(entry.path(), d + "/" + entry.path().filename().string());
        for (const char* part : {"image_encoder", "language_model"})
            fs::create_directory_symlink(fixtures / "mamba_chat" / part, d + "/" + part);
        fs::create_symlink(fixtures / "mamba_chat" / "projector.safetensors", d + "/projector.safetensors");
        return d;
    }();
    krait_fuzz::write_file(dir + "/config.json", data, size);
    krait_fuzz::run("composite assistant", [&] {
        const auto assistant = krait::CompositeAssistant::load(dir, krait::LoadOptions{});
        (void)assistant->image_rows();
        (void)assistant->num_parameters();
    });
    return 0;
}
