// Test helpers shared by the ABI tests on the demo models: a model and a session (2 threads) freed
// at the end of the scope, load failures reported with the library's message.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "krait/krait.h"

namespace krait_test {

struct Model {
    explicit Model(const char* dir) { EXPECT_EQ(krait_model_load(dir, nullptr, &model), KRAIT_OK) << krait_last_error(); }
    ~Model() { krait_model_free(model); }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    krait_model* model = nullptr;
};

struct Session {
    explicit Session(krait_model* m) {
        krait_session_params p;
        krait_session_params_init(&p);
        p.n_threads = 2;
        EXPECT_EQ(krait_session_create(m, &p, &session), KRAIT_OK) << krait_last_error();
    }
    ~Session() { krait_session_free(session); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    krait_session* session = nullptr;
};

inline int64_t vocab_of(const krait_model* m) {
    krait_model_info info;
    info.struct_size = sizeof info;
    EXPECT_EQ(krait_model_get_info(m, &info), KRAIT_OK);
    return info.vocab_size;
}

}  // namespace krait_test
