#include "sdk/models/language_model.h"

#include <algorithm>

#include "sdk/core/error.h"

namespace krait {

int64_t LanguageModel::default_context_length() const {
    constexpr int64_t kDefault = 4096;
    const int64_t max_positions = info().max_positions;
    return max_positions > 0 ? std::min(max_positions, kDefault) : kDefault;
}

void throw_foreign_state(const char* model) {
    fail_argument(std::string("a state or workspace made by another model was passed to a ") + model + " model");
}

}  // namespace krait
