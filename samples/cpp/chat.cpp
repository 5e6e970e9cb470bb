// chat.cpp — a multi-turn conversation with a chat model, in C++17.
//
//   usage: krait_sample_cpp_chat [MODEL_DIR] [QUESTION...]
//          (default: models/chat-demo and two questions about the red teapot)
//
// krait::Conversation keeps the messages, renders them with the model's own
// chat template and generates each reply, prefilling only the tokens the
// session does not hold yet: the second turn reuses the first one's state
// (see the stats after each reply). Greedy decoding: the same replies every run.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "krait/krait.hpp"

int main(int argc, char** argv) {
    const std::string model_dir = argc > 1 ? argv[1] : "models/chat-demo";
    std::vector<std::string> questions(argv + (argc > 2 ? 2 : argc), argv + argc);
    if (questions.empty()) questions = {"How much is the red teapot?", "And how many are in stock?"};

    try {
        const krait::Model model = krait::Model::load(model_dir);
        krait::Session session(model);
        krait::Conversation chat(session);  // borrows `session`, declared after it so it goes first

        krait::GenerateOptions options;
        options.max_new_tokens = 48;
        options.sampling.temperature = 0.0f;  // greedy

        for (const std::string& question : questions) {
            std::cout << "user:      " << question << "\nassistant: " << std::flush;
            // say() adds the user message, streams the reply and returns it; the
            // reply (without the end-of-turn token) is now the last message.
            chat.say(question, options, [](int32_t, std::string_view piece) {
                std::cout << piece << std::flush;
                return false;
            });
            std::cout << "\n";
            const krait_conversation_stats st = chat.stats();
            std::cerr << "  (prompt " << st.prompt_tokens << " tokens, " << st.reused_tokens << " reused, "
                      << st.generated_tokens << " generated)\n";
        }
        std::cerr << chat.messages().size() << " messages in the conversation\n";
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "krait: " << e.what() << "\n";
        return 1;
    }
}
