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

}  // namespace krait
