// Saved session states (krait_session_load_state; sdk/session/state_file.h and
// krait_session::read_state: header, fingerprint, context tokens, logits, the model's state data,
// adapter stamps), loaded into a Mamba and a Llama session (the CRC field is recomputed, see
// session_models.h). A state that loads must leave a usable session.
#include "session_models.h"

#include "sdk/core/error.h"
#include "sdk/session/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = krait_fuzz::scratch_dir() + "/state.kstate";
    krait_fuzz::write_file(path, krait_fuzz::with_fixed_crc(data, size));
    for (auto& m : krait_fuzz::session_models()) {
        krait_fuzz::run(m.name, [&] {
            m.session->load_state(path);
            auto snapshot = m.session->snapshot();
            m.session->restore(*snapshot);
        });
    }
    return 0;
}
