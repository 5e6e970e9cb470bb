// The hard limits on what Krait accepts from files and callers, in one place. Each is far above any
// real model or request and far below what would exhaust memory or the stack, so that a lying or
// hostile input is refused with a status and a message naming the limit, never a crash or an
// allocation of the size a header claims. docs/RELIABILITY.md ("Limits") lists them with the
// per-session limits (context length, image pixels) and tests/unit/limits_test.cpp tests each at
// and one past its edge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "krait/krait.h"

namespace krait::limits {

// safetensors: the JSON header (the reference implementation's limit too), the tensors one file
// declares (the largest published checkpoints hold ~1,000 per shard), and a tensor's rank.
inline constexpr uint64_t kSafetensorsHeaderBytes = 100'000'000;
inline constexpr size_t kTensorsPerFile = 65'536;
inline constexpr size_t kTensorRank = 8;
// One dimension of a tensor (safetensors shape entry); the product is checked against the file.
inline constexpr uint64_t kTensorDim = uint64_t{1} << 40;

// Nesting of any JSON document Krait parses (config.json, tokenizer.json, adapter configs,
// preprocessor configs, safetensors headers, chat messages): real files nest 6 levels or fewer.
// Deeper documents are refused before anything walks them recursively.
inline constexpr int kJsonDepth = 64;

// Pictures in one message of a conversation (krait_conversation_add_message_images, _say_images).
inline constexpr int64_t kImagesPerMessage = 64;

// Adapters active at once on one session (krait_session_set_adapters).
inline constexpr size_t kAdaptersPerSet = 64;

}  // namespace krait::limits

namespace krait {

// Refuses `text` (any bytes: it need not be valid JSON) when its arrays and objects nest deeper than
// limits::kJsonDepth: throws `status` with "<origin>: JSON nested deeper than 64 levels". Called
// before every JSON parse, so nothing recursive (copies, serialisation, Krait's own walks) ever
// sees a deeper document. Linear, no allocation.
void check_json_depth(std::string_view text, const std::string& origin, krait_status status = KRAIT_ERR_FORMAT);

}  // namespace krait
