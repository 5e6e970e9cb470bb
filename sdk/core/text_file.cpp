#include "sdk/core/text_file.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/core/limits.h"

namespace krait {

std::string read_text_file(const std::string& path, const std::string& missing_message) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_io(missing_message);
    return read_rest(in, path);
}

std::string read_rest(std::istream& in, const std::string& path) {
    // Read into a fixed buffer and append: the only allocations are the string's, in this function,
    // so a failure is a std::bad_alloc here, not a stream error bit (see the header).
    std::string text;
    char chunk[1 << 16];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) text.append(chunk, static_cast<size_t>(in.gcount()));
    if (in.bad()) fail_io(path + ": error while reading the file");
    return text;
}

nlohmann::json parse_json_object(const std::string& text, const std::string& origin) {
    nlohmann::json j;
    try {
        check_json_depth(text, origin);
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail_format(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) fail_format(origin + ": not a JSON object");
    return j;
}

std::vector<std::string> parse_id2label(const nlohmann::json& m, const std::string& origin, int64_t max_labels) {
    if (!m.is_object()) fail_format(origin + ": 'id2label' must be an object");
    const int64_t n = static_cast<int64_t>(m.size());
    if (n < 1 || n > max_labels)
        fail_format(origin + ": 'id2label' has " + std::to_string(n) + " entries, expected 1.." +
                    std::to_string(max_labels));
    std::vector<std::string> labels(static_cast<size_t>(n));
    std::vector<bool> seen(static_cast<size_t>(n), false);
    for (const auto& [key, value] : m.items()) {
        int64_t id = -1;
        size_t used = 0;
        try {
            id = std::stoll(key, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != key.size() || id < 0 || id >= n || seen[static_cast<size_t>(id)])
            fail_format(origin + ": 'id2label' key \"" + key + "\" is not one of the ids 0.." + std::to_string(n - 1) +
                        " (each exactly once)");
        if (!value.is_string()) fail_format(origin + ": 'id2label' value for \"" + key + "\" must be a string");
        seen[static_cast<size_t>(id)] = true;
        labels[static_cast<size_t>(id)] = value.get<std::string>();
    }
    return labels;
}

int64_t json_int(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number_integer()) fail_format(origin + ": " + quote(key) + " must be an integer, got " + j[key].dump());
    return j[key].get<int64_t>();
}

bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) fail_format(origin + ": " + quote(key) + " must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
}

double json_number(const nlohmann::json& j, const char* key, double fallback, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) fail_format(origin + ": " + quote(key) + " must be a number, got " + j[key].dump());
    const double v = j[key].get<double>();
    if (!std::isfinite(v)) fail_format(origin + ": " + quote(key) + " must be finite");
    return v;
}

void require_range(const std::string& origin, const std::string& key, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi)
        fail_format(origin + ": " + quote(key) + " is " + std::to_string(value) + ", expected " + std::to_string(lo) +
                    ".." + std::to_string(hi));
}

}  // namespace krait
