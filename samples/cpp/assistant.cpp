// assistant.cpp — two questions about a picture to a vision-language assistant, in C++17.
//
//   usage: krait_sample_cpp_assistant [MODEL_DIR [PICTURE [QUESTION...]]]
//          (default: models/shapes-mamba-assistant models/samples/shapes_1.png
//           "What colour is the circle?" "And where is it?")
//
// The picture goes with the first question; later questions refer to it
// through the conversation's history, and the session's state after the
// picture is reused, so the image encoder runs once (see the stats).
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "krait/krait.hpp"

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
        // float32 [3, image_height, image_width], as the model's preprocessing makes it.
        const std::vector<float> pixels = model.preprocess_image(picture);

        krait::Session session(model);
        krait::Conversation chat(session);

        krait::GenerateOptions options;
        options.max_new_tokens = 32;
        options.sampling.temperature = 0.0f;  // greedy
        const auto print_piece = [](int32_t, std::string_view piece) {
            std::cout << piece << std::flush;
            return false;  // true would stop the reply
        };

        std::cout << "picture:   " << picture << " (" << info.architecture << ", " << info.image_rows
                  << " image rows)\n";
        for (size_t i = 0; i < questions.size(); ++i) {
            std::cout << "user:      " << questions[i] << "\nassistant: " << std::flush;
            if (i == 0)  // the first message shows the picture (the pixels are copied)
                chat.say_images(questions[i], pixels, /*n_images=*/1, info.image_height, info.image_width, options,
                                print_piece);
            else  // later ones refer to it
                chat.say(questions[i], options, print_piece);
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
