// nlohmann::json as the library uses it: include this instead of <nlohmann/json.hpp>.
//
// Comparing a json with a string literal (`j == "silu"`) builds a json from the literal (a heap
// string) inside nlohmann's noexcept operator==: when that allocation fails, the program terminates
// instead of the call returning KRAIT_ERR_OUT_OF_MEMORY (tests/alloc found it). Those comparisons
// are deleted below, so they do not compile in the library; json_equals reads the stored string
// in place instead.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace krait {

// True if `value` is a JSON string equal to `text`; false for any other type. Never allocates.
template <class Json>
bool json_equals(const Json& value, std::string_view text) noexcept {
    return value.is_string() && value.template get_ref<const typename Json::string_t&>() == text;
}

}  // namespace krait

// Found by argument-dependent lookup (nlohmann's versioned inline namespace has `nlohmann` as an
// associated namespace too) and preferred to nlohmann's templates, being none: `json == "text"`
// names one of these and fails to compile. Use krait::json_equals.
namespace nlohmann {
bool operator==(const json&, const char*) = delete;
bool operator!=(const json&, const char*) = delete;
bool operator==(const char*, const json&) = delete;
bool operator!=(const char*, const json&) = delete;
bool operator==(const ordered_json&, const char*) = delete;
bool operator!=(const ordered_json&, const char*) = delete;
bool operator==(const char*, const ordered_json&) = delete;
bool operator!=(const char*, const ordered_json&) = delete;
}  // namespace nlohmann
