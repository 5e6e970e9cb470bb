// tokenizer.json (sdk/tokenizer/: models BPE / WordPiece-less byte-level and SentencePiece BPE,
// normalizers, pre-tokenizers with their Oniguruma regexes, post-processors, decoders, added
// tokens): a tokenizer that loads must then encode and decode without crashing.
#include "fuzz_common.h"
#include "sdk/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    krait_fuzz::run("tokenizer.json", [&] {
        auto tok = krait::Tokenizer::from_json(text, "fuzz/tokenizer.json");
        for (bool special : {false, true}) {
            const auto ids = tok->encode("Hello, w\xC3\xB6rld! I'M 1234567 x\r\n\r\n  y <|eot_id|> \xF0\x9F\x98\x80 ", special);
            krait_fuzz::run("decode", [&] { tok->decode(ids, special); });
        }
        (void)tok->vocab_size();
        (void)tok->token_to_id("<unk>");
        for (int32_t id : {0, 1, 255, 256}) (void)tok->id_to_token(id);
    });
    return 0;
}
