// assistant.cpp — two questions about a picture to a vision-language assistant, in C++17.
//
//   usage: krait_sample_cpp_assistant [MODEL_DIR [PICTURE [QUESTION...]]]
//          (default: models/shapes-mamba-assistant models/samples/shapes_1.png
//           "What colour is the circle?" "And where is it?")
//
// The picture goes with the first question; later questions refer to it
// through the conversation's history, and the session's state after the
// picture is reused, so the image encoder runs once (see the stats).
// krait.hpp has no picture methods yet, so the two picture calls below use
// the C ABI on the handles' get(), throwing krait::Exception as krait.hpp does.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "krait/krait.hpp"

namespace {

void check(krait_status status) {
    if (status != KRAIT_OK) throw krait::Exception(status, krait_last_error());
}

// The picture at `path`, model-ready: float32 [3, image_height, image_width].
std::vector<float> preprocess(const krait::Model& model, const std::string& path) {
    size_t n = 0;
    check(krait_model_preprocess_image_file(model.get(), path.c_str(), nullptr, 0, &n));  // size query
    std::vector<float> pixels(n);
    check(krait_model_preprocess_image_file(model.get(), path.c_str(), pixels.data(), pixels.size(), &n));
    return pixels;
}

// C callback for krait_generate_params.on_token: prints each piece.
int print_piece(int32_t, const char* piece, size_t len, void*) {
    std::cout << std::string_view(piece, len) << std::flush;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string model_dir = argc > 1 ? argv[1] : "models/shapes-mamba-assistant";
    const std::string picture = argc > 2 ? argv[2] : "models/samples/shapes_1.png";
    std::vector<std::string> questions(argv + (argc > 3 ? 3 : argc), argv + argc);
    if (questions.empty()) questions = {"What colour is the circle?", "And where is it?"};

    try {
        const krait::Model model = krait::Model::load(model_dir);
        const krait_model_info info = model.info();
        if (info.kind != KRAIT_MODEL_ASSISTANT) {
            std::cerr << model_dir << " is a " << info.architecture << " model, not an assistant\n";
            return 1;
        }
        const std::vector<float> pixels = preprocess(model, picture);

        krait::Session session(model);
        krait::Conversation chat(session);

        krait::GenerateOptions options;  // for the text-only turns (krait.hpp)
        options.max_new_tokens = 32;
        options.sampling.temperature = 0.0f;  // greedy
        krait_generate_params params;         // the same for the C call with the picture
        krait_generate_params_init(&params);
        params.max_new_tokens = options.max_new_tokens;
        params.sampling.temperature = options.sampling.temperature;
        params.on_token = print_piece;

        std::cout << "picture:   " << picture << " (" << info.architecture << ", " << info.image_rows
                  << " image rows)\n";
        for (size_t i = 0; i < questions.size(); ++i) {
            std::cout << "user:      " << questions[i] << "\nassistant: " << std::flush;
            if (i == 0)  // the first message shows the picture (the pixels are copied)
                check(krait_conversation_say_images(chat.get(), questions[i].c_str(), pixels.data(), 1,
                                                    info.image_height, info.image_width, &params));
            else  // later ones refer to it
                chat.say(questions[i], options, [](int32_t, std::string_view piece) {
                    std::cout << piece << std::flush;
                    return false;
                });
            std::cout << "\n";
            const krait_conversation_stats st = chat.stats();
            std::cerr << "  (prompt " << st.prompt_tokens << " tokens, " << st.reused_tokens
                      << " reused; images encoded " << st.images_encoded << ", from cache " << st.images_cached
                      << ")\n";
        }
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "krait: " << e.what() << "\n";
        return 1;
    }
}
