#include "sdk/core/text_file.h"

#include <fstream>
#include <sstream>

#include "sdk/core/error.h"

namespace krait {

std::string read_text_file(const std::string& path, const std::string& missing_message) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_io(missing_message);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

nlohmann::json parse_json_object(const std::string& text, const std::string& origin) {
    nlohmann::json j;
    try {
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

}  // namespace krait
