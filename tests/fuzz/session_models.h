// The models the saved-state and saved-conversation harnesses load files into, and the seeds'
// maker (make_seeds.cpp): a composite assistant on a Mamba language model (recurrent state,
// pictures, snapshots; tests/fixtures/composite/mamba_chat) and a LLaVA on Llama (a KV cache;
// tests/fixtures/llava/llava_chat). Both have chat templates.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "krait/krait.h"
#include "sdk/session/state_file.h"

namespace krait_fuzz {

struct SessionModel {
    const char* name;
    krait_model* model = nullptr;
    krait_session* session = nullptr;
};

inline std::vector<SessionModel>& session_models() {
    static std::vector<SessionModel> models = [] {
        std::vector<SessionModel> v;
        for (const char* dir : {"tests/fixtures/composite/mamba_chat", "tests/fixtures/llava/llava_chat"}) {
            SessionModel m{dir};
            krait_model_params mp;
            krait_model_params_init(&mp);
            if (krait_model_load(source_path(dir).c_str(), &mp, &m.model) != KRAIT_OK) {
                std::fprintf(stderr, "krait fuzz: cannot load %s: %s\n", dir, krait_last_error());
                std::abort();
            }
            krait_session_params sp;
            krait_session_params_init(&sp);
            sp.n_threads = 1;
            sp.context_length = 256;
            if (krait_session_create(m.model, &sp, &m.session) != KRAIT_OK) std::abort();
            v.push_back(m);
        }
        return v;
    }();
    // Freed at exit (after the fuzzer's last input), so that LeakSanitizer's check at exit sees none.
    static const bool registered = [] {
        std::atexit([] {
            for (auto& m : session_models()) {
                krait_session_free(m.session);
                krait_model_free(m.model);
            }
            session_models().clear();
        });
        return true;
    }();
    (void)registered;
    return models;
}

// The input as a state file: a header's CRC-32 field (bytes 24..27) is set to the CRC of the bytes
// after the header, so that mutations reach the payload's reader instead of stopping at the CRC
// check (the CRC check itself is exercised by the seeds and by tests/unit).
inline std::string with_fixed_crc(const uint8_t* data, size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    if (size >= 28) {
        const uint32_t crc = krait::crc32(data + 28, size - 28);
        std::memcpy(bytes.data() + 24, &crc, 4);
    }
    return bytes;
}

}  // namespace krait_fuzz
