// tokenizer_config.json, the transformers side of a tokenizer: the added and special tokens it
// declares that tokenizer.json may lack. transformers (TokenizersBackend.__init__, v4 and v5) adds,
// after tokenizer.json's own added tokens and in this order:
//   1. each entry of "added_tokens_decoder" (by increasing key) that is not identical (content and
//      flags) to one of tokenizer.json's added tokens; the keys are not ids: ids are assigned as
//      for any added token (see AddedVocabulary);
//   2. each named special token (bos, eos, unk, sep, pad, cls, mask) and each entry of
//      "additional_special_tokens" / "extra_special_tokens" whose content is not yet an added token,
//      as a special, non-normalized token (or with the flags of its {"content": ...} object);
// and a token of step 1 that is a named special token becomes special.
// Other settings of the file (add_bos_token, chat_template, model_max_length, ...) are not read here.
#pragma once

#include <vector>

#include "sdk/tokenizer/added_vocabulary.h"
#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

// `config` is the parsed tokenizer_config.json (`at` names it for messages); `existing` are the
// added tokens of tokenizer.json. Returns the tokens to add after `existing`, in order.
std::vector<AddedTokenSpec> config_added_tokens(const Json& config, const JsonPath& at,
                                                const std::vector<AddedTokenSpec>& existing);

}  // namespace krait::tok
