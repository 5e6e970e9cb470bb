// Writes the seeds of the saved-state and saved-conversation harnesses with the SDK itself:
// krait_fuzz_make_seeds OUT_DIR -> OUT_DIR/session_state/*.kstate, OUT_DIR/conversation/*.kconv
// (states of a fresh session and after a generation; conversations of text, and with a picture on
// the assistants), for the models of session_models.h. tools/fuzz.sh --make-seeds runs it.
#include <filesystem>
#include <vector>

#include "session_models.h"

namespace {
void check(krait_status s, const char* what) {
    if (s != KRAIT_OK) {
        std::fprintf(stderr, "%s: %s\n", what, krait_last_error());
        std::exit(1);
    }
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const std::string out = argv[1];
    std::filesystem::create_directories(out + "/session_state");
    std::filesystem::create_directories(out + "/conversation");
    for (auto& m : krait_fuzz::session_models()) {
        const std::string name = std::filesystem::path(m.name).filename().string();
        check(krait_session_save_state(m.session, (out + "/session_state/" + name + "_empty.kstate").c_str()), "save");
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        gp.max_new_tokens = 3;
        const int32_t prompt[] = {1, 2, 3, 4};
        int32_t ids[8];
        size_t n = 0;
        check(krait_session_generate(m.session, prompt, 4, &gp, ids, 8, &n), "generate");
        check(krait_session_save_state(m.session, (out + "/session_state/" + name + ".kstate").c_str()), "save");

        krait_conversation* c = nullptr;
        check(krait_conversation_create(m.session, "Be brief.", nullptr, nullptr, &c), "conversation");
        check(krait_conversation_say(c, "hello", &gp), "say");
        check(krait_conversation_save(c, (out + "/conversation/" + name + "_text.kconv").c_str()), "save");
        krait_model_info info;
        info.struct_size = sizeof info;
        check(krait_model_get_info(m.model, &info), "info");
        if (info.kind == KRAIT_MODEL_ASSISTANT) {
            std::vector<float> pixels(static_cast<size_t>(3 * info.image_height * info.image_width), 0.25f);
            check(krait_conversation_say_images(c, "and this?", pixels.data(), 1, info.image_height, info.image_width, &gp),
                  "say_images");
            check(krait_conversation_save(c, (out + "/conversation/" + name + "_images.kconv").c_str()), "save");
        }
        krait_conversation_free(c);
    }
    return 0;
}
