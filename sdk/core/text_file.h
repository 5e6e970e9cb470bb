// Small helpers for the JSON configuration files every loader reads.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "sdk/core/json.h"

namespace krait {

// The whole file as text; throws KRAIT_ERR_IO with `missing_message` if it cannot be opened,
// KRAIT_ERR_IO naming the file on a read error, and std::bad_alloc when memory runs out (never a
// shortened text: `stream << file.rdbuf()` swallows the allocation failure and stops early).
std::string read_text_file(const std::string& path, const std::string& missing_message);

// The rest of an open stream, as read_text_file reads (`path` names it in the read-error message).
std::string read_rest(std::istream& in, const std::string& path);

// Parses `text` as a JSON object; throws KRAIT_ERR_FORMAT "<origin>: not valid JSON: ..." or
// "<origin>: not a JSON object".
nlohmann::json parse_json_object(const std::string& text, const std::string& origin);

// config.json's id2label: an object mapping every id "0".."n-1" exactly once
// to a string, 1 <= n <= max_labels. Returns the names in id order; throws
// KRAIT_ERR_FORMAT "<origin>: 'id2label' ..." naming the offending key.
std::vector<std::string> parse_id2label(const nlohmann::json& id2label, const std::string& origin, int64_t max_labels);

// Typed fields of a config object, each with a default when the key is absent or null. A value
// of the wrong type or outside [lo, hi] is KRAIT_ERR_FORMAT "<origin>: 'key' must be ..., got ...".
int64_t json_int(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& origin);
bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& origin);
double json_number(const nlohmann::json& j, const char* key, double fallback, const std::string& origin);
void require_range(const std::string& origin, const std::string& key, int64_t value, int64_t lo, int64_t hi);

// Scratch buffers: grows `v` to at least n floats (never shrinks) and returns its data.
inline float* grow_buffer(std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
}

}  // namespace krait
