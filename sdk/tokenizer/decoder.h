// Decoders of tokenizer.json ("decoder"): turn the token strings of a list of ids back into text.
//
// Supported: ByteLevel, Metaspace, Replace (String or Regex pattern), ByteFallback, Fuse, Strip, Sequence,
// each a step of HF's decode_chain (a list of strings in, a list of strings out; the final text is
// their concatenation).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;

    std::string decode(std::vector<std::string> tokens) const {
        decode_chain(tokens);
        std::string out;
        for (const std::string& t : tokens) out += t;
        return out;
    }
};

std::unique_ptr<Decoder> parse_decoder(const Json& j, const JsonPath& at);

}  // namespace krait::tok
