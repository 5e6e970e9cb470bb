// Post-processors of tokenizer.json ("post_processor"): what encode(add_special_tokens=true) adds
// around the ids of a single sequence. Supported: ByteLevel (adds nothing; it only trims offsets,
// which Krait does not track), TemplateProcessing (its "single" template) and Sequence of these.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    // Called only for add_special_tokens = true; rewrites `ids` of the single sequence "A".
    virtual void process(std::vector<int32_t>& ids) const = 0;
};

std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const JsonPath& at);

}  // namespace krait::tok
