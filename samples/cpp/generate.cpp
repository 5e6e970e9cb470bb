// generate.cpp — the "hello world" of the Krait SDK in C++17, through krait.hpp.
//
//   usage: krait_sample_cpp_generate MODEL_DIR [PROMPT] [MAX_NEW_TOKENS]
//
// Loads a model directory (config.json, model.safetensors, tokenizer.json),
// encodes a prompt, and streams the generated text to stdout.
//
// The pattern to copy: krait.hpp turns every failed call into a
// krait::Exception (status() and the library's message in what()), and every
// handle (Model, Session, ...) frees its C object when it goes out of scope.
// Declare the Model first: it must outlive the sessions made on it.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "krait/krait.hpp"

int main(int argc, char** argv) {
    if (argc < 2 || argc > 4) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR [PROMPT] [MAX_NEW_TOKENS]\n";
        return 2;
    }
    const std::string prompt = argc > 2 ? argv[2] : "The quick brown fox";
    const int max_new_tokens = argc > 3 ? std::atoi(argv[3]) : 48;
    if (max_new_tokens <= 0) {
        std::cerr << "MAX_NEW_TOKENS must be a positive integer\n";
        return 2;
    }

    try {
        krait::check_version();  // the library loaded at run time serves this header

        const krait::Model model = krait::Model::load(argv[1]);
        const krait::Tokenizer tokenizer = model.tokenizer();  // borrowed: valid as long as `model`
        krait::Session session(model);                         // all cores

        krait::GenerateOptions options;  // the library's defaults, then changed
        options.max_new_tokens = max_new_tokens;
        options.sampling.temperature = 0.8f;
        options.sampling.seed = 42;  // same seed, same text

        std::cout << prompt << std::flush;
        // The callback gets each token's text as soon as it exists; return
        // true to stop early. An exception thrown here stops the generation
        // and is rethrown by generate().
        const std::vector<int32_t> ids =
            session.generate(tokenizer.encode(prompt), options, [](int32_t, std::string_view piece) {
                std::cout << piece << std::flush;
                return false;
            });
        std::cout << "\n";
        std::cerr << ids.size() << " new tokens\n";
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "krait: " << e.what() << " (" << krait_status_string(e.status()) << ")\n";
        return 1;
    }
}
