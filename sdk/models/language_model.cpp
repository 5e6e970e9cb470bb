#include "sdk/models/language_model.h"

#include <algorithm>

#include "sdk/core/error.h"

namespace krait {

int64_t LanguageModel::default_context_length() const {
    constexpr int64_t kDefault = 4096;
    const int64_t max_positions = info().max_positions;
    return max_positions > 0 ? std::min(max_positions, kDefault) : kDefault;
}

std::vector<std::pair<std::string, std::string>> LanguageModel::fingerprint() const {
    const LanguageModelInfo& i = info();
    return {{"architecture", i.architecture},
            {"vocab_size", std::to_string(i.vocab_size)},
            {"hidden_size", std::to_string(i.hidden_size)},
            {"num_layers", std::to_string(i.num_layers)},
            {"state_size", std::to_string(i.state_size)}};
}

void throw_foreign_state(const char* model) {
    fail_argument(std::string("a state or workspace made by another model was passed to a ") + model + " model");
}

}  // namespace krait
