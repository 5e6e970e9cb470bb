#include "sdk/adapters/lora_config.h"

#include <cmath>
#include <regex>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/limits.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {
using ordered_json = nlohmann::ordered_json;

// peft's get_pattern_key: pattern k matches a module name n when
// re.match(rf"(.*\.)?({k})$", n) does, i.e. k matches a dot-separated tail of n.
bool pattern_matches(const std::string& pattern, const std::string& module) {
    try {
        return std::regex_match(module, std::regex("(.*\\.)?(" + pattern + ")", std::regex::ECMAScript));
    } catch (const std::regex_error&) {
        return false;  // patterns are validated when the config is parsed
    }
}

void check_regex(const std::string& pattern, const std::string& origin, const char* field) {
    try {
        std::regex re(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        fail_format(origin + ": " + krait::quote(field) + " entry \"" + pattern + "\" is not a valid regular expression");
    }
}

bool flag(const ordered_json& j, const char* key, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return false;
    if (!j[key].is_boolean()) fail_format(origin + ": " + krait::quote(key) + " must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
}

std::vector<std::string> string_list(const ordered_json& v, const std::string& origin, const char* key) {
    std::vector<std::string> out;
    if (!v.is_array()) fail_format(origin + ": " + krait::quote(key) + " must be a list of module names, got " + v.dump());
    for (const auto& e : v) {
        if (!e.is_string()) fail_format(origin + ": " + krait::quote(key) + " must be a list of strings, got " + v.dump());
        out.push_back(e.get<std::string>());
    }
    return out;
}

}  // namespace

LoraConfig LoraConfig::from_json_text(const std::string& text, const std::string& origin) {
    ordered_json j;
    try {
        check_json_depth(text, origin);
        j = ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // The parser's message says where and quotes the bytes it read; krait::Error escapes them.
        fail_format(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) fail_format(origin + ": not a JSON object");

    if (!j.contains("peft_type") || !j["peft_type"].is_string())
        fail_format(origin + ": 'peft_type' is missing (expected \"LORA\"); is this a PEFT adapter folder?");
    const std::string type = j["peft_type"].get<std::string>();
    if (type != "LORA") fail_unsupported(origin + ": peft_type " + krait::quote(type) + " is not supported (only LORA)");
    if (flag(j, "use_dora", origin)) fail_unsupported(origin + ": DoRA adapters ('use_dora': true) are not supported");
    if (flag(j, "lora_bias", origin))
        fail_unsupported(origin + ": 'lora_bias': true (a bias on lora_B) is not supported");
    if (j.contains("bias") && !j["bias"].is_null() && !json_equals(j["bias"], "none"))
        fail_unsupported(origin + ": 'bias': " + j["bias"].dump() +
                         " (adapters that retrain the base biases) is not supported; only \"none\"");
    for (const char* variant : {"use_qalora", "use_bdlora"})
        if (j.contains(variant) && !j[variant].is_null() && j[variant] != false)
            fail_unsupported(origin + ": " + krait::quote(variant) + " adapters are not supported");
    if (j.contains("layer_replication") && !j["layer_replication"].is_null())
        fail_unsupported(origin + ": 'layer_replication' is not supported");

    LoraConfig c;
    if (j.contains("r")) {
        if (!j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0)
            fail_format(origin + ": 'r' must be a positive integer, got " + j["r"].dump());
        c.r = j["r"].get<int64_t>();
    }
    if (j.contains("lora_alpha") && !j["lora_alpha"].is_null()) {
        if (!j["lora_alpha"].is_number() || !std::isfinite(j["lora_alpha"].get<double>()))
            fail_format(origin + ": 'lora_alpha' must be a finite number, got " + j["lora_alpha"].dump());
        c.lora_alpha = j["lora_alpha"].get<double>();
    }
    c.use_rslora = flag(j, "use_rslora", origin);
    // peft itself turns fan_in_fan_out off for torch.nn.Linear (the only linear
    // module these models have); it matters for GPT-2's Conv1D, which Krait does not load.
    c.fan_in_fan_out = flag(j, "fan_in_fan_out", origin);

    if (j.contains("rank_pattern") && !j["rank_pattern"].is_null()) {
        if (!j["rank_pattern"].is_object()) fail_format(origin + ": 'rank_pattern' must be an object");
        for (const auto& [k, v] : j["rank_pattern"].items()) {
            if (!v.is_number_integer() || v.get<int64_t>() <= 0)
                fail_format(origin + ": 'rank_pattern' entry \"" + k + "\" must be a positive integer, got " + v.dump());
            check_regex(k, origin, "rank_pattern");
            c.rank_pattern.emplace_back(k, v.get<int64_t>());
        }
    }
    if (j.contains("alpha_pattern") && !j["alpha_pattern"].is_null()) {
        if (!j["alpha_pattern"].is_object()) fail_format(origin + ": 'alpha_pattern' must be an object");
        for (const auto& [k, v] : j["alpha_pattern"].items()) {
            if (!v.is_number() || !std::isfinite(v.get<double>()))
                fail_format(origin + ": 'alpha_pattern' entry \"" + k + "\" must be a finite number, got " + v.dump());
            check_regex(k, origin, "alpha_pattern");
            c.alpha_pattern.emplace_back(k, v.get<double>());
        }
    }
    if (j.contains("target_modules") && !j["target_modules"].is_null()) {
        const auto& t = j["target_modules"];
        if (t.is_string()) {
            if (t.get<std::string>() == "all-linear") c.all_linear = true;
            else {
                check_regex(t.get<std::string>(), origin, "target_modules");
                c.target_regex = t.get<std::string>();
            }
        } else {
            c.target_list = string_list(t, origin, "target_modules");
        }
    }
    if (j.contains("modules_to_save") && !j["modules_to_save"].is_null())
        c.modules_to_save = string_list(j["modules_to_save"], origin, "modules_to_save");
    return c;
}

int64_t LoraConfig::rank_for(const std::string& module) const {
    for (const auto& [pattern, rank] : rank_pattern)
        if (pattern_matches(pattern, module)) return rank;
    return r;
}

double LoraConfig::alpha_for(const std::string& module) const {
    for (const auto& [pattern, alpha] : alpha_pattern)
        if (pattern_matches(pattern, module)) return alpha;
    return lora_alpha;
}

double LoraConfig::scaling_for(const std::string& module, int64_t rank) const {
    const double alpha = alpha_for(module);
    return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

bool LoraConfig::targets(const std::string& module) const {
    if (target_regex) {
        try {
            return std::regex_match(module, std::regex(*target_regex, std::regex::ECMAScript));
        } catch (const std::regex_error&) {
            return false;
        }
    }
    if (target_list) {
        for (const auto& t : *target_list)
            if (module == t || (module.size() > t.size() && module.ends_with("." + t))) return true;
        return false;
    }
    return true;  // absent or "all-linear": peft chose the modules; the tensors say which
}

bool LoraConfig::saves(const std::string& module) const {
    for (const auto& m : modules_to_save)
        if (module == m || module.ends_with("." + m)) return true;
    return false;
}

}  // namespace krait
