// adapter_swap.cpp — one model, LoRA adapters switched per request, in C++17.
//
//   usage: krait_sample_cpp_adapter_swap MODEL_DIR ADAPTER_DIR [PROMPT] [MAX_NEW_TOKENS]
//
// Loads a model once and a PEFT LoRA adapter for it, then answers the same
// prompt on one session: with the base model, with the adapter at full and at
// half strength, and with the base model again. set_adapters() costs
// microseconds: no weights are reloaded, copied or merged. Greedy decoding.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "krait/krait.hpp"

namespace {

double microseconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

// The prompt and its greedy continuation on a fresh context of `session`.
void answer(krait::Session& session, const std::vector<int32_t>& prompt_ids, const std::string& prompt,
            const krait::GenerateOptions& options) {
    session.reset();
    std::cout << prompt;
    session.generate(prompt_ids, options, [](int32_t, std::string_view piece) {
        std::cout << piece << std::flush;
        return false;
    });
    std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 5) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR ADAPTER_DIR [PROMPT] [MAX_NEW_TOKENS]\n";
        return 2;
    }
    const std::string prompt = argc > 3 ? argv[3] : "This module provides";
    krait::GenerateOptions options;
    options.max_new_tokens = argc > 4 ? std::atoi(argv[4]) : 40;
    options.sampling.temperature = 0.0f;  // greedy
    if (options.max_new_tokens <= 0) {
        std::cerr << "MAX_NEW_TOKENS must be a positive integer\n";
        return 2;
    }

    try {
        const krait::Model model = krait::Model::load(argv[1]);
        // Checked against the model: an adapter for another architecture or
        // size is refused here, naming the first key that does not fit.
        const krait::Adapter adapter = krait::Adapter::load(model, argv[2]);
        const krait_adapter_info info = adapter.info();
        krait::Session session(model);
        const std::vector<int32_t> ids = model.tokenizer().encode(prompt);

        std::cout << "-- base model\n";
        answer(session, ids, prompt, options);

        // (adapter, scale) pairs; several adapters may be active at once, their
        // scaled updates add up. 1.0 = as trained.
        auto t0 = std::chrono::steady_clock::now();
        session.set_adapters({{&adapter, 1.0f}});
        std::cout << "-- with adapter '" << info.name << "' (rank " << info.max_rank << ", " << info.num_targets
                  << " modules; swapped in in " << microseconds_since(t0) << " us)\n";
        answer(session, ids, prompt, options);

        session.set_adapters({{&adapter, 0.5f}});
        std::cout << "-- with the adapter at scale 0.5\n";
        answer(session, ids, prompt, options);

        t0 = std::chrono::steady_clock::now();
        session.clear_adapters();  // back to the base model
        std::cout << "-- base model again (swapped out in " << microseconds_since(t0) << " us)\n";
        answer(session, ids, prompt, options);
        return 0;
    } catch (const krait::Exception& e) {
        std::cerr << "krait: " << e.what() << "\n";
        return 1;
    }
}
