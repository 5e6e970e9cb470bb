// Helpers shared by tests that read the generated fixtures under tests/fixtures/.
#pragma once

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sdk/io/safetensors.h"

namespace krait::testing {

inline std::string fixture(const std::string& relative) { return "tests/fixtures/" + relative; }

// Reference results stored by tools/gen_mamba_fixtures.py in <case>/expected.safetensors.
struct Expected {
    explicit Expected(const std::string& case_dir) : file(case_dir + "/expected.safetensors") {}
    const TensorInfo& tensor(const std::string& name) const {
        auto it = file.tensors().find(name);
        if (it == file.tensors().end()) throw std::runtime_error("expected.safetensors lacks " + name);
        return it->second;
    }
    template <class T>
    std::vector<T> values(const std::string& name) const {
        const auto& t = tensor(name);
        std::vector<T> out(t.nbytes / sizeof(T));
        std::memcpy(out.data(), t.data, t.nbytes);
        return out;
    }
    SafetensorsFile file;
};

// max |got - want| <= rel * max(1, max |want|); reports the worst element.
inline ::testing::AssertionResult all_close(const float* got, const std::vector<float>& want, float rel) {
    float scale = 1.0f, worst = 0.0f;
    size_t at = 0;
    for (float w : want) scale = std::max(scale, std::fabs(w));
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return ::testing::AssertionFailure() << "non-finite value at " << i;
        const float d = std::fabs(got[i] - want[i]);
        if (d > worst) worst = d, at = i;
    }
    if (worst <= rel * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max difference " << worst << " at index " << at << " (got " << got[at]
                                         << ", want " << want[at] << "), allowed " << rel * scale;
}

}  // namespace krait::testing
