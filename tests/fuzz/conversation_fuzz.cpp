// Saved conversations (krait_conversation_load; sdk/session/conversation.cpp: the messages, their
// pictures, the turn-boundary snapshots and the session state in the state-file format of
// sdk/session/state_file.h), loaded on a Mamba assistant and a LLaVA (Llama) session (the CRC
// field is recomputed, see session_models.h); a loaded conversation is then rendered.
#include <memory>

#include "session_models.h"
#include "sdk/core/error.h"
#include "sdk/session/conversation.h"
#include "sdk/session/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = krait_fuzz::scratch_dir() + "/conversation.kconv";
    krait_fuzz::write_file(path, krait_fuzz::with_fixed_crc(data, size));
    for (auto& m : krait_fuzz::session_models()) {
        krait_fuzz::run(m.name, [&] {
            std::unique_ptr<krait_conversation> c = krait_conversation::load(*m.session, path, nullptr, nullptr);
            (void)c->render(true);
            (void)c->messages().size();
        });
    }
    return 0;
}
