// tokenizer_config.json (sdk/tokenizer/tokenizer_config.h: added_tokens_decoder, named special
// tokens, additional_special_tokens, their AddedToken flags) over a fixed small byte-level BPE
// tokenizer.json with added tokens (the demo assistant fixture's language model; a small one so
// that each input costs the config's parse, not the tokenizer's).
#include "fuzz_common.h"
#include "sdk/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string tokenizer = krait_fuzz::read_file(krait_fuzz::source_path("tests/fixtures/composite/mamba_chat/language_model/tokenizer.json"));
    const std::string config(reinterpret_cast<const char*>(data), size);
    krait_fuzz::run("tokenizer_config.json", [&] {
        auto tok = krait::Tokenizer::from_json(tokenizer, "fuzz/tokenizer.json", &config, "fuzz/tokenizer_config.json");
        const auto ids = tok->encode("<|im_start|>user\nhi<|im_end|><unk_x> the <tool_call>", true);
        krait_fuzz::run("decode", [&] { tok->decode(ids, true); });
    });
    return 0;
}
