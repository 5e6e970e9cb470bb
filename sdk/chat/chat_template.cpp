#include "sdk/chat/chat_template.h"

#include <filesystem>

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/core/limits.h"

namespace krait::chat {

namespace {

namespace fs = std::filesystem;

// The special tokens transformers passes to every template (special_tokens_map's named tokens).
constexpr const char* kSpecialTokenNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                              "pad_token", "cls_token", "mask_token"};

// Where reasoning arrives in a message; transformers copies it to the first two names too.
constexpr const char* kReasoningFields[] = {"reasoning_content", "thinking", "reasoning"};

std::string join_path(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

OrderedJson parse_ordered(const std::string& text, const std::string& origin) {
    try {
        check_json_depth(text, origin);
        return OrderedJson::parse(text);
    } catch (const OrderedJson::exception& e) {
        fail_format(origin + ": not valid JSON: " + e.what());
    }
}

// A special token value: "text" or an AddedToken object {"content": "text", ...}.
std::string special_token_text(const OrderedJson& value, const std::string& origin, const std::string& key) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string()) {
        return value["content"].get<std::string>();
    }
    fail_format(origin + ": '" + key + "' must be a string or an object with a string \"content\"");
}

// Strings valid UTF-8, nesting within the interpreter's bound (checked before anything recurses
// through the caller's data).
void check_input(const OrderedJson& value, const std::string& at, int depth = 0) {
    if (depth > jinja::kMaxValueDepth) {
        fail_argument(at + " nests deeper than " + std::to_string(jinja::kMaxValueDepth) + " levels");
    }
    if (value.is_string()) {
        if (!is_valid_utf8(value.get_ref<const std::string&>())) fail_argument(at + " is not valid UTF-8");
    } else if (value.is_array()) {
        for (size_t i = 0; i < value.size(); ++i) check_input(value[i], at + "[" + std::to_string(i) + "]", depth + 1);
    } else if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            if (!is_valid_utf8(it.key())) fail_argument(at + " has a key that is not valid UTF-8");
            check_input(it.value(), at + "." + it.key(), depth + 1);
        }
    }
}

// One message as transformers hands it to the template: fields that are null are dropped (many
// templates would print "None"), and reasoning is also given as "thinking" (first) and
// "reasoning_content" (last), as _alias_reasoning_fields does.
OrderedJson normalize_message(const OrderedJson& message, size_t index) {
    if (!message.is_object()) fail_argument("messages[" + std::to_string(index) + "] is not an object");
    OrderedJson kept = OrderedJson::object();
    for (auto it = message.begin(); it != message.end(); ++it) {
        if (!it.value().is_null()) kept[it.key()] = it.value();
    }
    const OrderedJson* reasoning = nullptr;
    for (const char* field : kReasoningFields) {
        if (kept.contains(field)) {
            reasoning = &kept[field];
            break;
        }
    }
    if (!reasoning) return kept;
    OrderedJson aliased = OrderedJson::object();
    aliased["thinking"] = *reasoning;
    for (auto it = kept.begin(); it != kept.end(); ++it) aliased[it.key()] = it.value();
    aliased["reasoning_content"] = *reasoning;
    return aliased;
}

// The named special tokens of tokenizer_config.json, as template variables.
jinja::Dict read_special_tokens(const std::string& model_dir) {
    jinja::Dict tokens;
    const std::string config_file = join_path(model_dir, "tokenizer_config.json");
    if (!fs::is_regular_file(config_file)) return tokens;
    const OrderedJson config =
        parse_ordered(read_text_file(config_file, config_file + ": cannot be read"), config_file);
    for (const char* name : kSpecialTokenNames) {
        const auto it = config.is_object() ? config.find(name) : config.end();
        if (it == config.end() || it->is_null()) continue;
        const std::string text = special_token_text(*it, config_file, name);
        if (!is_valid_utf8(text)) fail_format(config_file + ": '" + name + "' is not valid UTF-8");
        tokens.set(name, jinja::Value(text));
    }
    return tokens;
}

}  // namespace

void ChatTemplate::add(const std::string& name, const std::string& source, const std::string& origin) {
    if (!is_valid_utf8(source)) fail_format(origin + ": the chat template is not valid UTF-8");
    try {
        templates_[name] = Named{source, std::make_shared<const jinja::Template>(source)};
    } catch (const Error& e) {
        fail(e.status(), origin + ": " + e.what());
    }
}

void ChatTemplate::add_template_files(const std::string& model_dir) {
    const std::string jinja_file = join_path(model_dir, "chat_template.jinja");
    if (fs::is_regular_file(jinja_file)) {
        add("default", read_text_file(jinja_file, jinja_file + ": cannot be read"), jinja_file);
    }
    const fs::path extra_dir = fs::path(model_dir) / "additional_chat_templates";
    if (!fs::is_directory(extra_dir)) return;
    for (const auto& entry : fs::directory_iterator(extra_dir)) {
        if (entry.path().extension() != ".jinja") continue;
        const std::string path = entry.path().string();
        add(entry.path().stem().string(), read_text_file(path, path + ": cannot be read"), path);
    }
}

void ChatTemplate::add_json_templates(const std::string& model_dir) {
    const std::string json_file = join_path(model_dir, "chat_template.json");
    const std::string config_file = join_path(model_dir, "tokenizer_config.json");
    if (fs::is_regular_file(json_file)) {
        const OrderedJson json = parse_ordered(read_text_file(json_file, json_file + ": cannot be read"), json_file);
        if (!json.is_object() || !json.contains("chat_template") || !json["chat_template"].is_string()) {
            fail_format(json_file + ": 'chat_template' must be a string");
        }
        add("default", json["chat_template"].get<std::string>(), json_file);
    } else if (fs::is_regular_file(config_file)) {
        const OrderedJson config =
            parse_ordered(read_text_file(config_file, config_file + ": cannot be read"), config_file);
        const auto it = config.is_object() ? config.find("chat_template") : config.end();
        if (it != config.end() && it->is_string()) {
            add("default", it->get<std::string>(), config_file);
        } else if (it != config.end() && it->is_array()) {
            for (const OrderedJson& entry : *it) {
                if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
                    !entry.contains("template") || !entry["template"].is_string()) {
                    fail_format(config_file + ": 'chat_template' entries must be {\"name\": ..., \"template\": ...}");
                }
                add(entry["name"].get<std::string>(), entry["template"].get<std::string>(), config_file);
            }
        } else if (it != config.end() && !it->is_null()) {
            fail_format(config_file + ": 'chat_template' must be a string or a list of named templates");
        }
    }
}

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
    ChatTemplate result;
    result.special_tokens_ = read_special_tokens(model_dir);
    // Template files take priority over the JSON entries, as in transformers.
    result.add_template_files(model_dir);
    if (result.templates_.empty()) result.add_json_templates(model_dir);
    if (result.templates_.empty()) {
        fail_argument("the model in " + quote(model_dir) +
                      " has no chat template (no chat_template.jinja, chat_template.json or 'chat_template' in "
                      "tokenizer_config.json): pass a template to use");
    }
    return result;
}

ChatTemplate ChatTemplate::with_source(const std::string& source, const std::string& model_dir) {
    ChatTemplate result;
    if (!model_dir.empty()) result.special_tokens_ = read_special_tokens(model_dir);
    result.add("default", source, "chat template");
    return result;
}

std::vector<std::string> ChatTemplate::template_names() const {
    std::vector<std::string> names;
    for (const auto& [name, named] : templates_) names.push_back(name);
    return names;
}

const std::string& ChatTemplate::source(const std::string& template_name) const {
    return choose(template_name, false).source;
}

const ChatTemplate::Named& ChatTemplate::choose(const std::string& template_name, bool has_tools) const {
    std::string available;
    for (const auto& [name, named] : templates_) available += (available.empty() ? "" : ", ") + quote(name);
    if (!template_name.empty()) {
        const auto it = templates_.find(template_name);
        if (it == templates_.end()) {
            fail_argument("no chat template named " + quote(template_name) + "; the model has " + available);
        }
        return it->second;
    }
    if (templates_.size() == 1) return templates_.begin()->second;
    if (has_tools && templates_.count("tool_use")) return templates_.at("tool_use");
    if (templates_.count("default")) return templates_.at("default");
    fail_argument("the model has several chat templates and none is named 'default'; name one of " + available);
}

std::string ChatTemplate::render(const OrderedJson& messages, bool add_generation_prompt, const OrderedJson& variables,
                                 const std::string& template_name, const jinja::RenderOptions& options) const {
    if (!messages.is_array()) fail_argument("chat messages must be a JSON array of message objects");
    if (!variables.is_object()) fail_argument("chat template variables must be a JSON object");
    if (messages.empty()) fail_argument("cannot apply a chat template to an empty conversation");
    check_input(messages, "messages");
    check_input(variables, "variables");

    OrderedJson normalized = OrderedJson::array();
    for (size_t i = 0; i < messages.size(); ++i) normalized.push_back(normalize_message(messages[i], i));

    const auto tools = variables.find("tools");
    const bool has_tools = tools != variables.end() && !tools->is_null();
    const Named& chosen = choose(template_name, has_tools);

    jinja::Dict context = special_tokens_;
    for (auto it = variables.begin(); it != variables.end(); ++it) {
        if (it.key() == "messages" || it.key() == "add_generation_prompt") {
            fail_argument("chat template variable " + quote(it.key()) + " is set by the render call itself");
        }
        context.set(it.key(), jinja::Value::from_json(it.value()));
    }
    for (const char* name : {"tools", "documents"}) {
        if (!context.find(name)) context.set(name, jinja::Value::none());
    }
    context.set("messages", jinja::Value::from_json(normalized));
    context.set("add_generation_prompt", jinja::Value(add_generation_prompt));
    return chosen.parsed->render(context, options);
}

}  // namespace krait::chat
