// Small helpers for reading tokenizer.json with nlohmann::json so that every malformed or missing
// field ends in krait::Error(KRAIT_ERR_FORMAT) naming the file and the field path
// ("tokenizer.json: field 'model.vocab' is missing"), never in a raw nlohmann exception.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/tokenizer/unicode.h"

#include "sdk/core/utf8.h"

namespace krait::tok {

using Json = nlohmann::json;

// Where we are in the document: the file (for messages) and the dotted path of the current object.
struct JsonPath {
    const std::string& origin;
    std::string path;

    JsonPath child(const std::string& key) const { return {origin, path.empty() ? key : path + "." + key}; }
    JsonPath index(size_t i) const { return {origin, path + "[" + std::to_string(i) + "]"}; }

    [[noreturn]] void fail_format(const std::string& what) const {
        krait::fail_format(origin + ": field " + krait::quote(path) + " " + what);
    }
    [[noreturn]] void fail_unsupported(const std::string& what) const {
        krait::fail_unsupported(origin + ": field " + krait::quote(path) + " " + what);
    }
};

inline const Json& require(const Json& obj, const char* key, const JsonPath& at) {
    if (!obj.is_object()) at.fail_format("is not an object");
    const auto it = obj.find(key);
    if (it == obj.end()) at.child(key).fail_format("is missing");
    return *it;
}

// A present-and-not-null member, or nullptr.
inline const Json* optional_member(const Json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

inline std::string as_string(const Json& v, const JsonPath& at) {
    if (!v.is_string()) at.fail_format("must be a string");
    return v.get<std::string>();
}

inline std::string require_string(const Json& obj, const char* key, const JsonPath& at) {
    return as_string(require(obj, key, at), at.child(key));
}

inline bool optional_bool(const Json& obj, const char* key, bool fallback, const JsonPath& at) {
    const Json* v = optional_member(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean()) at.child(key).fail_format("must be true or false");
    return v->get<bool>();
}

inline int64_t as_int(const Json& v, const JsonPath& at, int64_t lo = std::numeric_limits<int64_t>::min(),
                      int64_t hi = std::numeric_limits<int64_t>::max()) {
    if (!v.is_number_integer()) at.fail_format("must be an integer");
    int64_t x;
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) at.fail_format("is out of range");
        x = static_cast<int64_t>(u);
    } else {
        x = v.get<int64_t>();
    }
    if (x < lo || x > hi) {
        at.fail_format("is " + std::to_string(x) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "]");
    }
    return x;
}

// Token ids are int32 in the ABI.
inline int32_t as_token_id(const Json& v, const JsonPath& at) {
    return static_cast<int32_t>(as_int(v, at, 0, std::numeric_limits<int32_t>::max()));
}

// The "type" of a component object ({"type": "NFC", ...}).
inline std::string component_type(const Json& obj, const JsonPath& at) {
    if (!obj.is_object()) at.fail_format("must be an object");
    return require_string(obj, "type", at);
}

// A single character field (Metaspace replacement, Strip content): exactly one code point.
inline char32_t as_single_char(const Json& v, const JsonPath& at) {
    const std::string s = as_string(v, at);
    if (s.empty() || find_invalid_utf8(s) != std::string::npos) at.fail_format("must be one character");
    size_t pos = 0;
    const char32_t cp = next_code_point(s, pos);
    if (pos != s.size()) at.fail_format("must be one character, got " + krait::quote(s));
    return cp;
}

}  // namespace krait::tok
