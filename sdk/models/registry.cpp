#include "sdk/models/registry.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"

namespace krait {

const ModelFamily& family_for_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    const auto path = (fs::path(dir) / "config.json").string();
    const nlohmann::json config = parse_json_object(read_text_file(path, dir + ": no config.json"), path);
    const auto& families = model_families();
    if (!config.contains("model_type")) {
        for (const auto& f : families)
            if (f.claims_untyped_config && f.claims_untyped_config(config)) return f;
        fail_format(path + ": no 'model_type', and not a layout any model family reads");
    }
    if (!config["model_type"].is_string()) fail_format(path + ": 'model_type' must be a string");
    const auto type = config["model_type"].get<std::string>();
    std::string known;
    for (const auto& f : families) {
        for (const auto& t : f.model_types) {
            if (t == type) return f;
            known += (known.empty() ? "" : ", ") + t;
        }
    }
    fail_unsupported(path + ": unknown model_type " + quote(type) + " (this build reads " + known + ")");
}

}  // namespace krait
