// Consumer of an installed Krait through the C++ layer krait.hpp, built as
// C++17: loads argv[1], runs one forward pass and checks the output size.
#include <cstdio>
#include <exception>

#include <krait/krait.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    try {
        krait::check_version();
        const krait::Model model = krait::Model::load(argv[1]);
        krait::Session session(model, 1);
        const auto logits = session.forward({1, 2, 3}, 1, 3);
        const auto vocab = model.info().vocab_size;
        if (logits.size() != static_cast<size_t>(3 * vocab)) {
            std::fprintf(stderr, "consumer_cpp: %zu logits, expected %lld\n", logits.size(), 3LL * vocab);
            return 1;
        }
        std::printf("consumer_cpp: forward gave [1, 3, %lld] logits\n", static_cast<long long>(vocab));
        return 0;
    } catch (const krait::Exception& e) {
        std::fprintf(stderr, "consumer_cpp: %s\n", e.what());
        return 1;
    }
}
